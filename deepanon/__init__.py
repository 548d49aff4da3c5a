"""deepanon: detect every face, replace it with a new one. See README.md."""

from deepanon.types import Face

__all__ = ["Anonymizer", "Face"]
__version__ = "0.1.0"


def __getattr__(name: str) -> type:  # lazy: `import deepanon` stays light, torch loads on first use
    if name == "Anonymizer":
        from deepanon.anonymize.pipeline import Anonymizer

        return Anonymizer
    raise AttributeError(name)
