"""The face generator used at run time: its networks, architecture config and weights on disk.

The trainer lives in deepanon.train; nothing here imports it."""
