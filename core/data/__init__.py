"""Dataset tools: `.list` transcripts and the training features of an experiment folder."""

from core.data.listfile import ListEntry, ListFile, ListProblem, read_list, validate_list, write_list

__all__ = ["ListEntry", "ListFile", "ListProblem", "read_list", "validate_list", "write_list"]
