"""One exception family so the CLI and GUI can show a single clear line for any bad input."""


class PolypViewerError(Exception):
    """A problem the user can fix; ``str(err)`` is the message to show."""


class MediaError(PolypViewerError):
    """An image, mask or video that cannot be read."""


class ModelFileError(PolypViewerError):
    """A model file that is missing, corrupt or not a PolypViewer model."""


class DatasetError(PolypViewerError):
    """A dataset folder whose layout or content cannot be used."""


class WriteError(PolypViewerError, OSError):
    """A file that could not be written (full disk, read-only folder): the message names it."""

    def __init__(self, path, cause: OSError) -> None:
        super().__init__(f"cannot write {path}: {cause.strerror or cause}")
        self.errno = cause.errno
