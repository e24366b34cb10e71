"""Reading tables as people have them (chainrule.tables): CSV as pandas and spreadsheets write
it, Parquet files and folders, and every unreadable file refused in one line that names the file
and, for a cell, its line (the header being row 1, blank lines counted) and column."""

import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import chainrule.tables as tables
from chainrule.tables import iter_batches, read_header, read_table, row_label


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            handle.write(text)
    return str(path)


def refused(call, path, message):
    """``call()`` raises a ValueError of exactly ``path: message``, on one line."""
    with pytest.raises(ValueError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text, text
    assert text == f"{path}: {message}"
    return text


def batches(path, columns, types=None):
    """iter_batches' header and its blocks of rows joined into one table."""
    reader = iter_batches(path, columns, types)
    header = next(reader)
    blocks = list(reader)
    return header, pa.concat_tables(blocks) if blocks else None


# ---------------------------------------------------------------------------- CSV as written
def test_pandas_to_csv_keeps_its_index_column_as_unnamed_0(tmp_path):
    path = str(tmp_path / "frame.csv")
    pd.DataFrame({"x": [1.5, 2.5, 4.0], "s": ["a", "b", "c"]}).to_csv(path)
    assert read_header(path) == (["Unnamed: 0", "x", "s"], 1)
    table = read_table(path)
    assert table.column_names == ["Unnamed: 0", "x", "s"]
    assert [str(t) for t in table.schema.types] == ["int64", "double", "string"]
    assert table.to_pydict() == {"Unnamed: 0": [0, 1, 2], "x": [1.5, 2.5, 4.0],
                                 "s": ["a", "b", "c"]}


def test_every_empty_header_cell_is_named_by_its_position(tmp_path):
    path = write(tmp_path, ",b,\n1,2,3\n")
    assert read_table(path).to_pydict() == {"Unnamed: 0": [1], "b": [2], "Unnamed: 2": [3]}


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    path = write(tmp_path, "\ufeffa,b\n1,2\n3,4\n")
    assert read_header(path) == (["a", "b"], 1)
    assert read_table(path).to_pydict() == {"a": [1, 3], "b": [2, 4]}


def test_blank_lines_are_skipped_before_the_header_and_between_rows(tmp_path):
    path = write(tmp_path, "\n\na,b\n1,2\n\n\n3,4\n\n")
    assert read_header(path) == (["a", "b"], 3)
    assert read_table(path).to_pydict() == {"a": [1, 3], "b": [2, 4]}


def test_header_names_are_stripped(tmp_path):
    path = write(tmp_path, " a , b\n1,2\n")
    assert read_header(path) == (["a", "b"], 1)


def test_quoted_cells_keep_their_commas_quotes_and_line_breaks(tmp_path):
    path = write(tmp_path, 'a,b\n"x, y",1\n"two\nlines",2\n"say ""hi""",3\n')
    table = read_table(path)
    assert table.to_pydict() == {"a": ["x, y", "two\nlines", 'say "hi"'], "b": [1, 2, 3]}


def test_a_quoted_header_name_may_hold_a_comma_and_a_line_break(tmp_path):
    path = write(tmp_path, '"a, first","b\nsecond"\n1,2\n')
    assert read_header(path) == (["a, first", "b\nsecond"], 2)
    assert read_table(path).to_pydict() == {"a, first": [1], "b\nsecond": [2]}


def test_missing_cells_in_their_usual_spellings_are_nulls(tmp_path):
    path = write(tmp_path, "a,b\n1,NA\n,x\nnan,\nNULL,N/A\n5,n/a\n")
    assert read_table(path).to_pydict() == {"a": [1, None, None, None, 5],
                                            "b": [None, "x", None, None, None]}


def test_columns_keep_their_types(tmp_path):
    path = write(tmp_path, "i,f,t,b,d\n1,1.5,x,true,2020-01-02\n2,,y,false,\n")
    table = read_table(path)
    assert [str(t) for t in table.schema.types] == ["int64", "double", "string", "bool",
                                                    "date32[day]"]
    assert table.column("d").to_pylist() == [datetime.date(2020, 1, 2), None]


def test_read_table_reads_only_the_columns_asked_for(tmp_path):
    path = write(tmp_path, "a,b,c\n1,x,2.5\n2,y,3.5\n")
    assert read_table(path, columns=["c", "a"]).column_names == ["c", "a"]
    assert read_table(path, columns=["c"]).to_pydict() == {"c": [2.5, 3.5]}


# ---------------------------------------------------------------------------- refused CSV
def test_a_repeated_header_name_is_refused_naming_both_columns(tmp_path):
    path = write(tmp_path, "a,b,a\n1,2,3\n")
    message = "the column name 'a' appears twice (columns 1 and 3); column names must be unique"
    refused(lambda: read_table(path), path, message)
    refused(lambda: read_header(path), path, message)
    refused(lambda: next(iter_batches(path, ["b"])), path, message)


def test_names_that_repeat_once_stripped_are_refused(tmp_path):
    path = write(tmp_path, "a, a\n1,2\n")
    refused(lambda: read_table(path), path, "the column name 'a' appears twice (columns 1 and "
            "2); column names must be unique")


@pytest.mark.parametrize("text", ["", "\n", "\n  \n\n"])
def test_an_empty_file_is_refused(tmp_path, text):
    path = write(tmp_path, text)
    refused(lambda: read_table(path), path, "the file is empty")
    refused(lambda: next(iter_batches(path, [])), path, "the file is empty")


@pytest.mark.parametrize("text", ["a,b\n", "a,b", "a,b\n\n\n"])
def test_a_header_without_rows_is_refused(tmp_path, text):
    path = write(tmp_path, text)
    refused(lambda: read_table(path), path, "only a header, no data rows")


def test_a_header_of_numbers_is_refused(tmp_path):
    path = write(tmp_path, "1,2\n3,4\n")
    refused(lambda: read_table(path), path,
            "row 1 should be a header of column names, got numbers")


@pytest.mark.parametrize("text, line, got", [
    ("a,b\n1,2\n3,4,5\n", 3, 3),
    ("a,b\n1\n", 2, 1),
    ("a,b\n1,2\n\n\n3\n", 5, 1),                 # blank lines counted
    ('a,b\n"two\nlines",2\n3,4,5\n', 4, 3),     # a line break in a quoted cell counted
    ("\na,b\n1,2\n3,4,5\n", 4, 3),              # a blank line before the header counted
])
def test_a_ragged_row_is_named_by_its_line(tmp_path, text, line, got):
    path = write(tmp_path, text)
    message = f"row {line} has {got} values but the header has 2"
    refused(lambda: read_table(path), path, message)
    refused(lambda: batches(path, ["a", "b"]), path, message)


def test_a_line_of_spaces_is_named_as_the_row_it_is(tmp_path):
    # The reader takes a line of spaces for a row of one cell (it is one, in a one-column
    # file): the message must say which line, not only that the file is unreadable.
    path = write(tmp_path, "a,b\n1,2\n   \n3,4\n")
    refused(lambda: read_table(path), path, "row 3 has 1 values but the header has 2")


def test_rows_of_empty_cells_count_as_rows_in_messages(tmp_path):
    # ",," is a row whose cells are all empty (spreadsheets write them), not a blank line:
    # the rows after it keep their own line numbers.
    path = write(tmp_path, "a,b\n1,2\n,\n3,inf\n5,6\n")
    refused(lambda: read_table(path), path, "row 4, column 'b': inf is not finite")
    assert [row_label(path)(r) for r in range(4)] == ["row 2", "row 3", "row 4", "row 5"]
    numbers = write(tmp_path, "a,b\n1,2\n,\n3,4\n", name="numbers.csv")
    assert read_table(numbers).to_pydict() == {"a": [1, None, 3], "b": [2, None, 4]}


def test_a_ragged_row_far_down_a_file_read_in_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "BLOCK_BYTES", 256)  # many blocks of rows
    lines = ["a,b"] + [f"{i},{i}.5" for i in range(300)]
    lines[250] = "249"
    lines.insert(100, "")
    path = write(tmp_path, "\n".join(lines) + "\n")
    message = "row 252 has 1 values but the header has 2"
    refused(lambda: read_table(path), path, message)
    refused(lambda: batches(path, ["a"], {"a": pa.float64()}), path, message)


def test_a_header_that_is_not_utf8_is_refused(tmp_path):
    path = write(tmp_path, b"a,caf\xe9\n1,2\n")
    refused(lambda: read_table(path), path, "row 1: the header is not UTF-8 text")


def test_a_cell_that_is_not_utf8_is_named_by_row_and_column(tmp_path):
    # Latin-1 in a small file: the bad byte is within the first block the header is read from.
    path = write(tmp_path, b"a,b\n1,abc\n2,caf\xe9\n3,ok\n")
    refused(lambda: read_table(path), path, "row 3, column 'b': a cell is not UTF-8 text")


def test_a_cell_that_is_not_utf8_far_down_a_file_is_named_by_row_and_column(tmp_path):
    rows = "".join(f"{i},word{i}\n" for i in range(2000))
    path = write(tmp_path, b"a,b\n" + rows.encode() + b"2000,caf\xe9\n")
    refused(lambda: read_table(path), path, "row 2002, column 'b': a cell is not UTF-8 text")


def test_a_column_not_asked_for_may_hold_bytes_that_are_not_utf8(tmp_path):
    path = write(tmp_path, b"a,b\n1,abc\n2,caf\xe9\n")
    header, table = batches(path, ["a"], {"a": pa.float64()})
    assert header == ["a", "b"]
    assert table.to_pydict() == {"a": [1.0, 2.0]}


@pytest.mark.parametrize("cell, shown", [("inf", "inf"), ("-inf", "-inf"), ("1e999", "inf"),
                                         ("Infinity", "inf"), ("-Inf", "-inf")])
def test_an_infinite_number_is_named_by_row_and_column(tmp_path, cell, shown):
    path = write(tmp_path, f"a,b\n1,2.5\n\n3,{cell}\n")
    refused(lambda: read_table(path), path, f"row 4, column 'b': {shown} is not finite")
    refused(lambda: batches(path, ["a", "b"], {"b": pa.float64()}), path,
            f"row 4, column 'b': {shown} is not finite")


def test_an_infinite_number_after_a_quoted_line_break(tmp_path):
    path = write(tmp_path, 'a,b\n"x\ny",1\n\n"q",inf\n')
    refused(lambda: read_table(path), path, "row 5, column 'b': inf is not finite")


def test_an_infinite_number_in_a_later_block_is_named_by_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "BLOCK_BYTES", 256)
    lines = ["a,b"] + [f"{i},{i}.5" for i in range(300)]
    lines[250] = "249,inf"
    lines.insert(100, "")
    path = write(tmp_path, "\n".join(lines) + "\n")
    message = "row 252, column 'b': inf is not finite"
    refused(lambda: read_table(path), path, message)
    refused(lambda: batches(path, ["a", "b"], {"a": pa.float64(), "b": pa.float64()}), path,
            message)


def test_a_path_that_is_no_file(tmp_path):
    missing = str(tmp_path / "nothing.csv")
    refused(lambda: read_table(missing), missing, "no such file")
    folder = tmp_path / "folder"
    folder.mkdir()
    refused(lambda: read_table(str(folder)), str(folder), "is a folder, not a CSV file")


# ---------------------------------------------------------------------------- iter_batches
def test_iter_batches_gives_the_header_then_only_the_columns_asked_for(tmp_path):
    path = write(tmp_path, 'a,junk,d\n1,xx,2020-01-01\n2,"q,\nr",2020-01-02\n,"1,2,3",\n')
    header, table = batches(path, ["a", "d"], {"a": pa.float64(), "d": pa.string()})
    assert header == ["a", "junk", "d"]
    assert table.schema.names == ["a", "d"]
    assert table.schema.field("a").type == pa.float64()
    assert table.schema.field("d").type == pa.string()
    assert table.to_pydict() == {"a": [1.0, 2.0, None], "d": ["2020-01-01", "2020-01-02", None]}


def test_iter_batches_never_parses_a_column_not_asked_for(tmp_path):
    # "junk" holds what no number type could read, and an infinite number: neither matters.
    path = write(tmp_path, "a,junk\n1,x\n2,inf\n3,1e999\n")
    header, table = batches(path, ["a"], {"a": pa.float64()})
    assert header == ["a", "junk"]
    assert table.to_pydict() == {"a": [1.0, 2.0, 3.0]}


def test_iter_batches_reads_blocks_of_rows_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "BLOCK_BYTES", 256)
    path = write(tmp_path, "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(500)))
    reader = iter_batches(path, ["b"], {"b": pa.int64()})
    assert next(reader) == ["a", "b"]
    blocks = list(reader)
    assert len(blocks) > 1
    assert pa.concat_tables(blocks).column("b").to_pylist() == [i * 2 for i in range(500)]


def test_iter_batches_names_a_cell_that_is_not_of_its_type(tmp_path):
    path = write(tmp_path, 'a,junk\n1,x\n\n"foo\nbar",y\n')
    refused(lambda: batches(path, ["a"], {"a": pa.float64()}), path,
            "row 4, column 'a': 'foo\\nbar' is not a number")


def test_iter_batches_names_a_requested_column_the_file_lacks(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    refused(lambda: next(iter_batches(path, ["a", "nope"])), path,
            "lacks the column(s) 'nope' (columns: a, b)")


def test_read_table_names_a_requested_column_the_file_lacks(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    refused(lambda: read_table(path, columns=["zz"]), path,
            "lacks the column(s) 'zz' (columns: a, b)")


def test_row_label_names_the_line_of_a_data_row(tmp_path):
    path = write(tmp_path, '\na,b\n1,2\n\n"x\ny",3\n4,5\n')
    label = row_label(path)
    assert [label(r) for r in range(3)] == ["row 3", "row 5", "row 7"]


# ---------------------------------------------------------------------------- Parquet
def parquet_table():
    return pa.table({"x": [1.0, 2.0, 3.0],
                     "d": pa.array([0, 365, None], pa.date32()),
                     "s": ["a", "b", None]})


def test_a_parquet_file_keeps_its_types(tmp_path):
    path = str(tmp_path / "data.parquet")
    pq.write_table(parquet_table(), path)
    table = read_table(path)
    assert table.schema == parquet_table().schema
    assert table.to_pydict() == parquet_table().to_pydict()
    assert read_table(path, columns=["s"]).to_pydict() == {"s": ["a", "b", None]}


def test_a_folder_of_parquet_files_is_one_table(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(parquet_table().slice(0, 2), str(folder / "part-0.parquet"))
    pq.write_table(parquet_table().slice(2, 1), str(folder / "part-1.parquet"))
    table = read_table(str(folder))
    assert table.num_rows == 3
    assert sorted(table.column("x").to_pylist()) == [1.0, 2.0, 3.0]
    header, rows = batches(str(folder), ["x"])
    assert header == ["x", "d", "s"]
    assert rows.schema.names == ["x"]
    assert sorted(rows.column("x").to_pylist()) == [1.0, 2.0, 3.0]


def test_parquet_refusals_name_the_file_on_one_line(tmp_path):
    path = str(tmp_path / "data.parquet")
    pq.write_table(parquet_table(), path)
    refused(lambda: next(iter_batches(path, ["zz"])), path,
            "lacks the column(s) 'zz' (columns: x, d, s)")
    infinite = str(tmp_path / "inf.parquet")
    pq.write_table(pa.table({"x": [1.0, float("inf")]}), infinite)
    refused(lambda: read_table(infinite), infinite,
            "row 2 (of the data), column 'x': inf is not finite")
    empty = str(tmp_path / "empty.parquet")
    pq.write_table(pa.table({"x": pa.array([], pa.float64())}), empty)
    refused(lambda: read_table(empty), empty, "only a header, no data rows")
    missing = str(tmp_path / "missing.parquet")
    refused(lambda: read_table(missing), missing, "no such file")


def test_read_table_names_a_column_a_parquet_file_lacks(tmp_path):
    path = str(tmp_path / "data.parquet")
    pq.write_table(parquet_table(), path)
    refused(lambda: read_table(path, columns=["zz"]), path,
            "lacks the column(s) 'zz' (columns: x, d, s)")


def test_the_same_table_from_csv_and_parquet(tmp_path):
    frame = pd.DataFrame({"x": [0.5, np.nan, 2.0], "n": [1, 2, 3], "s": ["u", None, "w"]})
    csv_path, parquet_path = str(tmp_path / "t.csv"), str(tmp_path / "t.parquet")
    frame.to_csv(csv_path, index=False)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet_path)
    assert read_table(csv_path).to_pydict() == read_table(parquet_path).to_pydict()
