"""What a job's handler raises to tell the worker how to go on."""


class PermanentError(Exception):
    """Retrying cannot help (bad data, a refusal): the job fails at once."""
