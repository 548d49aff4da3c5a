"""Stage 'media': read images and videos into upright RGB frames and write the results back faithfully."""

from deepanon.media.errors import MediaError

__all__ = ["MediaError"]
