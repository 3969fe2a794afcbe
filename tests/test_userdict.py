"""User dictionary files: damaged files are clear errors, saving is atomic."""

import pytest

from core.errors import TextError
from core.text import UserDictionary


def test_a_dictionary_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "userdict.json"
    path.write_bytes(b'{"entries": {"\xff": "x"}}')
    with pytest.raises(TextError, match="not UTF-8"):
        UserDictionary.load(path)


def test_a_dictionary_file_that_is_not_json_is_a_clear_error(tmp_path):
    path = tmp_path / "userdict.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(TextError, match="not valid JSON"):
        UserDictionary.load(path)


def test_saved_dictionary_loads_back_equal_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "userdict.json"
    original = UserDictionary({"长大": "zhang3 da4", "live": "L IH1 V"})
    original.save(path)
    assert UserDictionary.load(path) == original
    assert [p.name for p in tmp_path.iterdir()] == ["userdict.json"]
