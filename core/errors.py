"""One exception tree for everything a user can get wrong.

Every message says what was found, what was expected and what to do. The edges translate:
the web UI shows the text in a `gr.Error`, the API returns it with a 4xx, the CLI prints it and exits 2.
"""


class TimbreError(Exception):
    """Base class: a problem the user can act on (bad input, missing file, wrong model)."""


class TextError(TimbreError):
    """Text that cannot be turned into phones (empty, unsupported language, bad inline override)."""


class AudioError(TimbreError):
    """Audio that cannot be read or is unusable (unreadable, silent, too short or too long)."""


class CheckpointError(TimbreError):
    """A model file that is missing, corrupt, of the wrong kind or of an unsupported version."""


class PretrainedMissingError(TimbreError):
    """Pretrained weights (HuBERT, BERT, base models) that are not on disk yet."""


class SynthesisError(TimbreError):
    """A synthesis request that cannot be carried out as asked."""


class WorkspaceError(TimbreError):
    """A path outside the workspace, or a workspace file that cannot be written."""


class SettingsError(TimbreError):
    """A flag or setting that cannot work on this machine (unknown device, port out of range)."""


class WatermarkError(TimbreError):
    """A watermark that cannot be made or checked (self-check failed, bad payload, unreadable install key)."""


class TrainingError(TimbreError):
    """Training cannot start or go on (an unusable experiment folder, out of memory, disk full, ...)."""
