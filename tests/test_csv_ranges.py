"""The CSV read in byte ranges straight into float64 columns (chainrule.csv_ranges), checked
against the whole-file typed reader: the same columns, kinds, values and messages."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")

from test_fuzz import table_texts  # noqa: E402

from chainrule import csv_ranges  # noqa: E402
from chainrule.columns import Column, read_column  # noqa: E402
from chainrule.tables import read_columns, read_table  # noqa: E402


def as_read(path):
    """What the whole-file reader gives, column by column, as the preparation reads it."""
    table = read_table(str(path))
    return {name: read_column(table, name) for name in table.column_names}


def same_columns(got, want):
    assert list(got) == list(want)
    for name in want:
        column = read_column(got, name)
        assert column.kind == want[name].kind, name
        if column.values.dtype == object or want[name].values.dtype == object:
            assert column.values.tolist() == want[name].values.tolist(), name
        else:
            np.testing.assert_array_equal(column.values, want[name].values, err_msg=name)


@pytest.fixture(params=[1, 2, 3])
def ranges(request, monkeypatch):
    """The file cut into 1, 2 or 3 byte ranges, however small."""
    monkeypatch.setattr(csv_ranges, "_parts", lambda path: request.param)
    return request.param


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_numbers_land_in_float64_columns_at_their_rows(tmp_path, ranges):
    lines = ["i,x,flag,empty,word,day,n,yes"] + [
        f"{k},{k / 4 if k % 7 else ''},{'true' if k % 3 else 'false'},,w{k % 4},"
        f"2024-01-{k % 28 + 1:02d},{-k if k % 5 else ''},{['True', 'False', ''][k % 3]}"
        for k in range(200)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    got = read_columns(path)
    assert isinstance(got["x"], Column) and got["x"].values.dtype == np.float64
    assert {name: read_column(got, name).kind for name in got} == {
        "i": "integer", "x": "number", "flag": "boolean", "empty": "empty", "word": "text",
        "day": "date", "n": "integer", "yes": "boolean"}
    assert np.isnan(got["n"].values[::5]).all() and got["n"].values[1] == -1
    same_columns(got, as_read(path))


def test_blank_lines_leave_no_gap_between_ranges(tmp_path, ranges):
    lines = ["a,b"] + [f"{k},{k * 2}" for k in range(90)]
    for at in (5, 30, 31, 60, 88):
        lines.insert(at, "")
    path = write(tmp_path, "\n".join(lines))  # and no line break after the last row
    got = read_columns(path)
    np.testing.assert_array_equal(got["a"].values, np.arange(90.0))
    same_columns(got, as_read(path))


def test_a_column_whose_type_changes_down_the_file_is_read_whole(tmp_path, ranges):
    lines = ["a,b"] + [f"{k},{k}" for k in range(100)] + ["x,100"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    got = read_columns(path)
    assert read_column(got, "a").kind == "text"
    same_columns(got, as_read(path))


def test_only_the_columns_asked_for(tmp_path, ranges):
    path = write(tmp_path, "a,b,c\n1,x,2\n3,y,4\n")
    assert list(read_columns(path, ["c", "a"])) == ["c", "a"]
    np.testing.assert_array_equal(read_columns(path, ["c"])["c"].values, [2.0, 4.0])


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,2\n3,inf\n", "row 3, column 'b': inf is not finite"),
    ("a,b\n1,2\n3\n", "row 3 has 1 values but the header has 2"),
    ("a,b\n", "only a header, no data rows"),
])
def test_what_is_wrong_is_named_as_the_whole_file_reader_names_it(tmp_path, ranges, text,
                                                                   message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message):
        read_columns(path)


def test_a_cell_that_is_not_utf8_is_named(tmp_path, ranges):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,abc\n2,caf\xe9\n")
    with pytest.raises(ValueError, match="row 3, column 'b': a cell is not UTF-8 text"):
        read_columns(str(path))


def test_a_quoted_line_break(tmp_path, ranges):
    path = write(tmp_path, 'a,b\n1,"x\ny"\n2,z\n')
    same_columns(read_columns(path), as_read(path))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(text=table_texts(), parts=st.integers(1, 4))
def test_any_table_reads_as_the_whole_file_reader_reads_it(tmp_path, monkeypatch, text, parts):
    monkeypatch.setattr(csv_ranges, "_parts", lambda path: parts)
    path = tmp_path / "fuzz.csv"
    path.write_bytes(text.encode("utf-8"))
    try:
        want = as_read(path)
    except ValueError as exc:
        with pytest.raises(ValueError) as got:
            read_columns(str(path))
        assert str(got.value) == str(exc)
        return
    same_columns(read_columns(str(path)), want)


def test_a_range_of_empty_cells_before_a_range_of_text(tmp_path, monkeypatch):
    lines = ["a,b"] + [f"{k}," for k in range(200)] + [f"{k},w{k % 3}" for k in range(20)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    for parts in (2, 3):
        monkeypatch.setattr(csv_ranges, "_parts", lambda p, parts=parts: parts)
        got = read_columns(path)
        assert read_column(got, "b").kind == "text"
        same_columns(got, as_read(path))
