"""Running a batch elsewhere than in this process: on a Ray cluster (ray.py), with inputs/outputs as URLs (remote.py).

Nothing here imports Ray at import time; it is an optional extra (pip install 'deepanon[ray]').
"""
