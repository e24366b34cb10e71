"""Columns to features (chainrule.features, chainrule.columns, chainrule.preparation): the role of
each column as the rules say, missing cells, scaling with the training rows' statistics, the
target, the same features from every kind of table, the stored preparation, and the split."""

import copy
import datetime
import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import chainrule
from chainrule.column_schema import check_stored_columns
from chainrule.features import DataError, Preparation
from chainrule.preparation import prepare
from chainrule.tables import read_table


def roles(prep):
    return {spec["name"]: spec["role"] for spec in prep.columns}


def reasons(prep):
    return {spec["name"]: spec["reason"] for spec in prep.columns if spec["role"] == "dropped"}


def fitted(table, **options):
    return Preparation(standardize=False, **options).fit(table)


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write(text)
    return str(path)


def test_preparation_is_importable_from_the_package():
    assert chainrule.Preparation is Preparation
    assert "Preparation" in chainrule.__all__


# ---------------------------------------------------------------------------- features by hand
def test_features_of_a_tiny_table_written_by_hand():
    table = {"num": [1.0, None, 3.0, 10.0], "flag": ["yes", "no", "YES", "n"],
             "color": ["red", "blue", "red", "blue"], "y": ["a", "b", "a", "b"]}
    prep = Preparation()
    X = prep.fit_transform(table, rows=np.array([0, 1, 2]))
    assert prep.feature_names == ["num", "num (missing)", "flag", "color=blue", "color=red"]
    # Encoded: num filled with the median of the training rows' 1 and 3, i.e. 2 (all rows
    # would give 3); its indicator; flag as 0/1; color one-hot with sorted categories.
    encoded = np.array([[1.0, 0.0, 1.0, 0.0, 1.0],
                        [2.0, 1.0, 0.0, 1.0, 0.0],
                        [3.0, 0.0, 1.0, 0.0, 1.0],
                        [10.0, 0.0, 0.0, 1.0, 0.0]])
    # Statistics of rows 0..2 only: num 1, 2, 3 has mean 2 and std sqrt(2/3); every 0/1
    # column holds one value once and the other twice: std sqrt(2/9).
    mean = np.array([2.0, 1 / 3, 2 / 3, 1 / 3, 2 / 3])
    std = np.array([np.sqrt(2 / 3), np.sqrt(2 / 9), np.sqrt(2 / 9), np.sqrt(2 / 9),
                    np.sqrt(2 / 9)])
    np.testing.assert_allclose(X, (encoded - mean) / std, rtol=1e-12)
    np.testing.assert_allclose(X[3, 0], 8 / np.sqrt(2 / 3))
    np.testing.assert_allclose(prep.scaling["mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(prep.scaling["scale"], std, rtol=1e-12)
    spec = prep.columns[0]
    assert (spec["fill"], spec["indicator"]) == (2.0, True)
    np.testing.assert_allclose(prep.transform(table), X, rtol=1e-12)


def test_scaling_matches_numpy_on_the_training_rows():
    rng = np.random.default_rng(0)
    a, b = rng.normal(3, 2, size=50), rng.uniform(-5, 5, size=50)
    table = {"a": a, "b": b, "y": (a > 3).astype(int)}
    rows = np.arange(0, 50, 2)
    X = Preparation().fit_transform(table, rows=rows)
    raw = np.column_stack([a, b])
    expected = (raw - raw[rows].mean(axis=0)) / raw[rows].std(axis=0)
    np.testing.assert_allclose(X, expected, rtol=1e-10, atol=1e-12)


def test_a_constant_feature_keeps_std_1():
    prep = Preparation()
    X = prep.fit_transform({"c": [5.0, 5.0, 5.0], "x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    assert prep.scaling["scale"][0] == 1.0
    np.testing.assert_array_equal(X[:, 0], [0.0, 0.0, 0.0])


def test_without_standardize_features_are_as_encoded():
    prep = fitted({"x": [1.5, 2.5, 4.0], "y": [0, 1, 0]})
    assert prep.scaling is None
    np.testing.assert_array_equal(prep.transform({"x": [7.0]}), [[7.0]])


# ---------------------------------------------------------------------------- roles
def test_numbers_stay_numbers():
    prep = fitted({"f": [0.5, 1.5, 1.5, 2.0], "i": [3, 1, 3, 2], "y": [0, 1, 0, 1]})
    assert roles(prep) == {"f": "numeric", "i": "numeric", "y": "target"}
    np.testing.assert_array_equal(prep.transform({"f": [0.5], "i": [3]}), [[0.5, 3.0]])


@pytest.mark.parametrize("true, false", [("true", "false"), ("TRUE", "False"), ("yes", "no"),
                                         ("Yes", "NO"), ("y", "n"), ("Y", "N"), ("t", "f"),
                                         ("T", "F")])
def test_booleans_in_every_spelling_are_0_and_1(true, false):
    prep = fitted({"b": [true, false, true.lower(), false.upper()], "x": [1.0, 2.0, 3.0, 4.0],
                   "y": [0, 1, 0, 1]})
    assert roles(prep)["b"] == "boolean"
    assert prep.feature_names == ["b", "x"]
    np.testing.assert_array_equal(prep.transform({"b": [true, false], "x": [0.0, 0.0]})[:, 0],
                                  [1.0, 0.0])


def test_real_boolean_columns_are_0_and_1():
    frame = pd.DataFrame({"b": [True, False, True, False],
                          "nb": pd.array([True, None, False, True], dtype="boolean"),
                          "y": [0, 1, 0, 1]})
    expected = np.array([[1, 1], [0, 1], [1, 0], [0, 1]], dtype=float)  # nb's gap: median 1
    for table in (frame, pa.Table.from_pandas(frame, preserve_index=False),
                  {"b": [True, False, True, False], "nb": [True, None, False, True],
                   "y": [0, 1, 0, 1]}):
        prep = fitted(table)
        assert roles(prep) == {"b": "boolean", "nb": "boolean", "y": "target"}
        assert prep.feature_names == ["b", "nb", "nb (missing)"]
        np.testing.assert_array_equal(prep.transform(table)[:, :2], expected)


def test_booleans_read_from_a_csv_are_0_and_1(tmp_path):
    path = write(tmp_path, "b,w,x,y\ntrue,Yes,1.5,0\nfalse,no,2.5,1\nTRUE,YES,3.5,0\n")
    prep = fitted(read_table(path))
    assert roles(prep) == {"b": "boolean", "w": "boolean", "x": "numeric", "y": "target"}
    np.testing.assert_array_equal(prep.transform(read_table(path))[:, :2],
                                  [[1, 1], [0, 0], [1, 1]])


def test_a_number_that_is_not_a_number_later_is_named():
    prep = fitted({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    np.testing.assert_array_equal(prep.transform({"x": ["1.5", None]}), [[1.5], [2.5]])
    with pytest.raises(DataError, match=r"^data row 2, column 'x': 'abc' is not a number$"):
        prep.transform({"x": ["1.5", "abc"]})
    with pytest.raises(DataError, match=r"^no column 'x', which the model uses$"):
        prep.transform({"y": [0]})


def test_a_boolean_that_is_not_a_boolean_later_is_named():
    prep = fitted({"b": ["yes", "no", "yes", "no"], "x": [1.0, 2.0, 3.0, 4.0],
                   "y": [0, 1, 0, 1]})
    with pytest.raises(DataError, match=r"^data row 2, column 'b': 'maybe' is not a boolean$"):
        prep.transform({"b": ["no", "maybe"], "x": [1.0, 1.0]})


def test_categories_are_one_hot_with_the_sorted_categories_kept():
    table = {"c": ["pear", "apple", "pear", "fig", "apple", "pear", "fig", "apple"],
             "y": [0, 1, 0, 1, 0, 1, 0, 1]}
    prep = fitted(table)
    spec = prep.columns[0]
    assert spec["role"] == "categorical"
    assert spec["categories"] == ["apple", "fig", "pear"]
    assert prep.feature_names == ["c=apple", "c=fig", "c=pear"]
    np.testing.assert_array_equal(prep.transform({"c": ["fig", "pear", "apple"]}),
                                  [[0, 1, 0], [0, 0, 1], [1, 0, 0]])


def test_an_unseen_category_gives_all_zeros_and_is_counted():
    prep = fitted({"c": ["b", "a", "b", "a", "b", "a"], "x": [1.0, 2, 3, 4, 5, 6],
                   "y": [0, 1, 0, 1, 0, 1]})
    X = prep.transform({"c": ["kiwi", "a", "zz", "kiwi"], "x": [0.0] * 4})
    np.testing.assert_array_equal(X, [[0, 0, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]])
    assert prep.unseen == {"c": 3}
    prep.transform({"c": ["a"], "x": [0.0]})
    assert prep.unseen == {}  # the last transform's count, not a running total


def test_numbers_given_as_categorical_keep_categories_as_they_print():
    prep = fitted({"n": [3, 1, 3, 2], "f": [1.0, 2.5, 2.5, 1.0], "y": [0, 1, 0, 1]},
                  categorical="n, f")
    assert prep.feature_names == ["n=1", "n=2", "n=3", "f=1", "f=2.5"]
    # A later file may type the column otherwise (floats, or text): the same categories.
    np.testing.assert_array_equal(prep.transform({"n": [2.0, 3.0], "f": ["2.5", "1"]}),
                                  [[0, 1, 0, 0, 1], [0, 0, 1, 1, 0]])


def test_dates_from_pandas_are_days_since_1970():
    frame = pd.DataFrame({"d": pd.to_datetime(["1970-01-11", "2000-03-01", None,
                                               "1969-12-31"]),
                          "t": pd.to_datetime(["1970-01-02 12:00", "1970-01-01 06:00",
                                               "1970-01-01 00:00", "1970-01-01 00:00"]),
                          "y": [0, 1, 0, 1]})
    prep = fitted(frame)
    assert roles(prep) == {"d": "date", "t": "date", "y": "target"}
    X = prep.transform(frame)
    days = (datetime.date(2000, 3, 1) - datetime.date(1970, 1, 1)).days
    assert days == 11017
    np.testing.assert_array_equal(X[:, 0], [10.0, days, 10.0, -1.0])  # the gap: the median
    np.testing.assert_array_equal(X[:, 1], [0.0, 0.0, 1.0, 0.0])      # the indicator
    np.testing.assert_array_equal(X[:, 2], [1.5, 0.25, 0.0, 0.0])


def test_dates_from_pyarrow_are_days_since_1970():
    table = pa.table({"d": pa.array([0, 10, -3, 365], pa.date32()),
                      "ts": pa.array([0, 86_400_000 * 3 // 2, 0, 0], pa.timestamp("ms")),
                      "utc": pa.array([0, 86_400 * 10**6, 0, 0], pa.timestamp("us", tz="UTC")),
                      "y": [0, 1, 0, 1]})
    prep = fitted(table)
    assert roles(prep) == {"d": "date", "ts": "date", "utc": "date", "y": "target"}
    np.testing.assert_array_equal(prep.transform(table),
                                  [[0, 0, 0], [10, 1.5, 1], [-3, 0, 0], [365, 0, 0]])


def test_iso_dates_read_from_a_csv_are_days_since_1970(tmp_path):
    path = write(tmp_path, "d,t,y\n1970-01-11,1970-01-02T12:00:00,0\n2000-03-01,"
                           "1970-01-01 06:00:00,1\n1970-01-01,1970-01-01T00:00:00,0\n")
    prep = fitted(read_table(path))
    assert roles(prep) == {"d": "date", "t": "date", "y": "target"}
    np.testing.assert_array_equal(prep.transform(read_table(path)),
                                  [[10, 1.5], [11017, 0.25], [0, 0]])


def test_dates_outside_the_nanosecond_range_are_days_since_1970():
    # 9999-12-31 is how many systems write "no end date"; 1600 a historical date. Both are
    # outside what datetime64[ns] holds (1677..2262), but days since 1970 hold them exactly.
    far, old = datetime.date(9999, 12, 31), datetime.date(1600, 1, 1)
    expected = [(far - datetime.date(1970, 1, 1)).days, (old - datetime.date(1970, 1, 1)).days,
                0.0, 1.0]
    assert expected[:2] == [2932896, -135140]
    for table in (pa.table({"d": pa.array([far, old, datetime.date(1970, 1, 1),
                                           datetime.date(1970, 1, 2)], pa.date32()),
                            "y": [0, 1, 0, 1]}),
                  {"d": [far, old, datetime.date(1970, 1, 1), datetime.date(1970, 1, 2)],
                   "y": [0, 1, 0, 1]}):
        prep = fitted(table)
        np.testing.assert_array_equal(prep.transform(table)[:, 0], expected)


# ---------------------------------------------------------------------------- dropped columns
def test_free_text_is_dropped_with_its_reason():
    prep = fitted({"note": ["a b", "c d", "e f", "g h"], "x": [1.0, 2.0, 3.0, 4.0],
                   "y": [0, 1, 0, 1]})
    assert reasons(prep) == {"note": "free text (4 different values in 4 cells); "
                                     "--categorical one-hot encodes it"}
    assert prep.feature_names == ["x"]
    assert prep.used_columns == ["x"]


def test_too_many_categories_are_dropped_with_their_reason():
    prep = fitted({"c": [f"k{i % 60}" for i in range(200)], "x": np.arange(200) * 0.5,
                   "y": [i % 2 for i in range(200)]})
    assert reasons(prep) == {"c": "60 categories, more than 50; --categorical one-hot encodes it"}


def test_an_empty_column_is_dropped():
    prep = fitted({"e": [None, None, None], "x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    assert reasons(prep) == {"e": "every cell is empty"}


@pytest.mark.parametrize("name", ["id", "ID", "Id", "patient_id", "customerID", "customerId",
                                  "order id", "user.id", "uuid"])
def test_columns_named_like_identifiers_are_dropped(name):
    prep = fitted({name: [7, 3, 7, 9], "x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    assert reasons(prep) == {name: "an identifier (named like an id); --numeric or "
                                   "--categorical keeps it"}
    text = fitted({name: ["u7", "u3", "u7", "u3"], "x": [1.0, 2.0, 3.0, 4.0],
                   "y": [0, 1, 0, 1]})
    assert roles(text)[name] == "dropped"


@pytest.mark.parametrize("name", ["paid", "valid", "grid", "idle", "identity"])
def test_names_that_only_end_in_id_letters_are_kept(name):
    assert roles(fitted({name: [7, 3, 7, 9], "y": [0, 1, 0, 1]}))[name] == "numeric"


def test_an_identifier_pandas_made_float_by_a_missing_cell_is_still_dropped():
    # pandas reads a whole-number column with an empty cell as float64.
    frame = pd.DataFrame({"patient_id": [101.0, 102.0, np.nan, 104.0],
                          "x": [0.5, 1.5, 2.5, 3.5], "y": [0, 1, 0, 1]})
    assert frame["patient_id"].dtype == np.float64
    assert roles(fitted(frame))["patient_id"] == "dropped"


def test_distinct_whole_numbers_over_20_rows_are_an_identifier():
    def table(n):
        return {"n": list(range(100, 100 + n)), "x": [i * 0.5 for i in range(n)],
                "y": [i % 2 for i in range(n)]}

    assert roles(fitted(table(19)))["n"] == "numeric"
    assert reasons(fitted(table(20))) == {"n": "an identifier (every value a different whole "
                                               "number); --numeric keeps it"}
    # Counted over the training rows: 10 of the 20 are too few to tell.
    assert roles(Preparation().fit(table(20), rows=np.arange(10)))["n"] == "numeric"
    repeated = table(25)
    repeated["n"][3] = repeated["n"][4]
    assert roles(fitted(repeated))["n"] == "numeric"
    fractions = table(25)
    fractions["n"] = [v + 0.5 for v in fractions["n"]]
    assert roles(fitted(fractions))["n"] == "numeric"


def test_pandas_index_column_is_dropped_in_any_order(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=8).round(3), "y": [0, 1] * 4})
    path = str(tmp_path / "shuffled.csv")
    frame.sample(frac=1, random_state=1).to_csv(path)
    table = read_table(path)
    assert table.column_names[0] == "Unnamed: 0"
    assert table.column("Unnamed: 0").to_pylist() != list(range(8))  # shuffled
    for prep in (fitted(table), fitted(pd.read_csv(path))):
        assert reasons(prep) == {"Unnamed: 0": "pandas' index column (an empty header over "
                                               "distinct whole numbers)"}
        assert prep.feature_names == ["x"]
    # An empty header over anything else is an ordinary column.
    other = fitted({"Unnamed: 3": ["a", "b", "a", "b"], "y": [0, 1, 0, 1]})
    assert roles(other)["Unnamed: 3"] == "categorical"


def test_pandas_index_stored_in_parquet_is_neither_a_feature_nor_the_target(tmp_path):
    # DataFrame.to_parquet stores an index other than 0..n-1 (a shuffled or filtered frame's)
    # as a last column "__index_level_0__"; pandas reads it back as the index, not a column.
    frame = pd.DataFrame({"x": np.arange(10) * 0.5 + 0.25, "y": [0, 1] * 5})
    path = str(tmp_path / "shuffled.parquet")
    frame.sample(frac=1, random_state=0).to_parquet(path)
    data = prepare(path, seed=0)
    assert data.metadata["target_name"] == "y"
    assert data.metadata["feature_names"] == ["x"]


def test_pandas_and_arrow_category_columns_are_one_hot():
    frame = pd.DataFrame({"c": pd.Categorical(["u", "v", "u", None, "v", "u"]),
                          "y": [0, 1, 0, 1, 0, 1]})
    expected = [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]]
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    assert pa.types.is_dictionary(arrow.schema.field("c").type)
    for table in (frame, arrow):
        prep = fitted(table)
        assert prep.feature_names == ["c=u", "c=v", "c=(missing)"]
        np.testing.assert_array_equal(prep.transform(table), expected)


# ---------------------------------------------------------------------------- overrides
def test_numeric_categorical_and_drop_override_the_rules():
    table = {"id": [1, 2, 3, 4], "n": [1, 2, 1, 3], "x": [0.1, 0.2, 0.3, 0.4],
             "s": ["1", "2.5", "2", "3"], "y": [0, 1, 0, 1]}
    prep = fitted(table, numeric=["id", "s"], categorical="n", drop="x")
    assert roles(prep) == {"id": "numeric", "n": "categorical", "x": "dropped", "s": "numeric",
                           "y": "target"}
    assert reasons(prep) == {"x": "asked (--drop)"}
    assert prep.feature_names == ["id", "n=1", "n=2", "n=3", "s"]
    np.testing.assert_array_equal(prep.transform(table),
                                  [[1, 1, 0, 0, 1], [2, 0, 1, 0, 2.5], [3, 1, 0, 0, 2],
                                   [4, 0, 0, 1, 3]])


def test_overrides_are_checked():
    with pytest.raises(ValueError, match=r"^column 'a' is given two roles$"):
        Preparation(numeric="a", drop="a")
    with pytest.raises(DataError, match=r"^--numeric: no column 'zz' \(columns: s, y\)$"):
        Preparation(numeric="zz").fit({"s": [1.0, 2.0], "y": [0, 1]})
    with pytest.raises(DataError, match=r"^column 'y' is the target; it cannot also be a "
                                        r"feature or dropped$"):
        Preparation(numeric="y").fit({"s": [1.0, 2.0], "y": [0, 1]})
    with pytest.raises(DataError, match=r"^data row 2, column 's': 'x' is not a number$"):
        Preparation(numeric="s").fit({"s": ["1", "x", "2", "3"], "y": [0, 1, 0, 1]})


# ---------------------------------------------------------------------------- missing cells
def test_missing_numbers_get_the_training_median_and_an_indicator():
    table = {"x": [1.0, np.nan, 5.0, 100.0, np.nan], "y": [0, 1, 0, 1, 0]}
    prep = Preparation(standardize=False).fit(table, rows=np.array([0, 1, 2]))
    assert prep.columns[0]["fill"] == 3.0  # the median of 1 and 5, not of 1, 5 and 100
    assert prep.feature_names == ["x", "x (missing)"]
    np.testing.assert_array_equal(prep.transform(table),
                                  [[1, 0], [3, 1], [5, 0], [100, 0], [3, 1]])


def test_no_indicator_when_no_training_cell_was_missing():
    table = {"x": [1.0, 2.0, 4.0, np.nan], "y": [0, 1, 0, 1]}
    prep = Preparation(standardize=False).fit(table, rows=np.array([0, 1, 2]))
    assert prep.feature_names == ["x"]
    np.testing.assert_array_equal(prep.transform(table), [[1], [2], [4], [2]])


def test_a_missing_category_is_a_category_of_its_own():
    table = {"c": ["b", None, "a", "b", "a", "b"], "y": [0, 1, 0, 1, 0, 1]}
    prep = fitted(table)
    assert prep.feature_names == ["c=a", "c=b", "c=(missing)"]
    np.testing.assert_array_equal(prep.transform({"c": [None, "a"]}), [[0, 0, 1], [1, 0, 0]])
    assert prep.unseen == {}


def test_a_missing_category_never_seen_in_training_gives_all_zeros():
    prep = fitted({"c": ["b", "a", "a", "b"], "y": [0, 1, 0, 1]})
    np.testing.assert_array_equal(prep.transform({"c": [None, "b"]}), [[0, 0], [0, 1]])
    assert prep.unseen == {}  # a missing cell is no unseen category


def test_on_missing_refuse_names_the_row_and_column():
    table = {"x": [1.0, 2.0, None, 4.0], "y": [0, 1, 0, 1]}
    with pytest.raises(DataError, match=r"^data row 3, column 'x': the cell is empty "
                                        r"\(--on-missing fill fills it\)$"):
        Preparation(on_missing="refuse").fit(table)
    prep = Preparation(on_missing="refuse").fit({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    with pytest.raises(DataError, match=r"^data row 2, column 'x': the cell is empty"):
        prep.transform({"x": [1.0, None]})


def test_on_missing_refuse_ignores_the_cells_of_dropped_columns():
    # An empty or free-text column is not used: its empty cells refuse nothing, at fit as at
    # transform (which never reads a dropped column).
    table = {"x": [1.0, 2.0, 3.0, 4.0], "note": ["a b", None, "c d", "e f"],
             "empty": [None] * 4, "y": [0, 1, 0, 1]}
    prep = Preparation(on_missing="refuse", standardize=False).fit(table)
    assert roles(prep) == {"x": "numeric", "note": "dropped", "empty": "dropped",
                           "y": "target"}
    np.testing.assert_array_equal(prep.transform(table), [[1], [2], [3], [4]])


def test_on_missing_refuse_names_the_line_of_a_file(tmp_path):
    path = write(tmp_path, "x,y\n1.5,0\n\n,1\n2.5,0\n3.5,1\n")
    with pytest.raises(DataError) as info:
        prepare(path, on_missing="refuse")
    assert str(info.value) == (f"{path}: row 4, column 'x': the cell is empty (--on-missing "
                               "fill fills it)")


# ---------------------------------------------------------------------------- the target
def test_rows_without_a_target_are_not_fitted_on():
    table = {"x": [1.0, 2.0, 3.0, 400.0, 5.0], "y": ["a", "b", None, None, "a"]}
    prep = Preparation(standardize=False)
    np.testing.assert_array_equal(prep.rows_with_target(table), [0, 1, 4])
    assert prep.rows_without_target == 2
    prep.fit(table)
    assert prep.rows_without_target == 2
    assert prep.columns[0]["fill"] == 2.0  # the median of rows 0, 1 and 4 only
    np.testing.assert_array_equal(prep.table_targets(table), [0, 1, -1, -1, 0])


def test_text_labels_are_kept_and_given_back():
    table = {"x": [1.0, 2.0, 3.0, 4.0, 5.0], "species": ["setosa", "virginica", "setosa",
                                                         "versicolor", "virginica"]}
    prep = fitted(table)
    assert (prep.task, prep.target_name) == ("classification", "species")
    assert prep.classes == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(prep.table_targets(table), [0, 2, 0, 1, 2])
    assert prep.labels(np.array([2, 0, 1])) == ["virginica", "setosa", "versicolor"]


@pytest.mark.parametrize("target, classes", [([True, False, True, False], ["False", "True"]),
                                             (["yes", "no", "yes", "no"], ["no", "yes"]),
                                             ([3, 1, 3, 2], [1, 2, 3])])
def test_boolean_and_whole_number_targets_are_classes(target, classes):
    prep = fitted({"x": [1.0, 2.0, 3.0, 4.0], "y": target})
    assert prep.task == "classification"
    assert prep.classes == classes


def test_a_regression_target_is_standardised_on_the_training_rows():
    prep = Preparation(task="regression")
    prep.fit({"x": [1.0, 2.0, 3.0, 4.0], "y": [10.0, 20.0, 30.0, None]})
    assert prep.rows_without_target == 1
    np.testing.assert_allclose(prep.target_scaling["mean"], [20.0])
    np.testing.assert_allclose(prep.target_scaling["scale"], [np.sqrt(200 / 3)])
    np.testing.assert_allclose(prep.target_units(np.array([[0.0], [1.0]]), to_network=False),
                               [[20.0], [20.0 + np.sqrt(200 / 3)]])


@pytest.mark.parametrize("table, options, message", [
    ({"x": [1.0, 2.0, 3.0], "y": ["a", "a", "a"]}, {},
     "column 'y': the target has a single class ('a'); there is nothing to learn"),
    ({"x": [1.0, 2.0, 3.0], "y": [1, 1, None]}, {},
     "column 'y': the target has a single class (1); there is nothing to learn"),
    ({"x": list(range(60)), "y": [f"t{i}" for i in range(60)]}, {},
     "column 'y' is free text (60 different values in 60 rows), not a target; choose another "
     "with --target"),
    ({"x": [1.0, 2.0], "y": [None, None]}, {}, "column 'y': the target has no values"),
    ({"x": [1.0, 2.0], "y": ["a", "b"]}, {"task": "regression"},
     "column 'y': 'a' is not a number; a regression target must hold numbers"),
    ({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.5, 3.0]}, {"task": "classification"},
     "data row 2, column 'y': 2.5 is not a class label (whole numbers up to 2**53); use --task "
     "regression"),
    ({"x": [1.0, 2.0], "y": [0, 1]}, {"target": "zz"}, "no target column 'zz' (columns: x, y)"),
    ({"id": [1, 2, 3, 4], "e": [None] * 4, "note": ["a b", "c d", "e f", "g h"],
      "y": [0, 1, 0, 1]}, {},
     "no usable feature column: 'id' an identifier (named like an id); --numeric or "
     "--categorical keeps it; 'e' every cell is empty; 'note' free text (4 different values "
     "in 4 cells); --categorical one-hot encodes it; 'y' is the target"),
])
def test_unusable_targets_and_tables_are_refused_with_the_reason(table, options, message):
    with pytest.raises(DataError) as info:
        Preparation(**options).fit(table)
    assert str(info.value) == message


def test_refusals_from_a_file_name_the_file(tmp_path):
    path = write(tmp_path, "x,y\n1.5,a\n2.5,a\n3.5,a\n4.5,a\n")
    with pytest.raises(DataError) as info:
        prepare(path)
    assert str(info.value) == (f"{path}: column 'y': the target has a single class ('a'); "
                               "there is nothing to learn")


# ---------------------------------------------------------------------------- kinds of table
def mixed_frame():
    return pd.DataFrame({
        "num": [1.5, np.nan, 3.0, -2.0, 0.25, 8.0],
        "count": [3, 1, 4, 1, 5, 9],
        "flag": ["yes", "no", "Y", "n", None, "NO"],
        "color": ["red", "blue", "red", None, "blue", "red"],
        "when": pd.to_datetime(["2020-01-01", "2020-01-03", None, "2019-12-31", "2020-02-01",
                                "2020-01-01"]),
        "label": ["a", "b", "a", "b", "a", "b"]})


def mixed_dict():
    return {"num": [1.5, None, 3.0, -2.0, 0.25, 8.0], "count": [3, 1, 4, 1, 5, 9],
            "flag": ["yes", "no", "Y", "n", None, "NO"],
            "color": ["red", "blue", "red", None, "blue", "red"],
            "when": [datetime.date(2020, 1, 1), datetime.date(2020, 1, 3), None,
                     datetime.date(2019, 12, 31), datetime.date(2020, 2, 1),
                     datetime.date(2020, 1, 1)],
            "label": ["a", "b", "a", "b", "a", "b"]}


def test_every_kind_of_table_gives_the_same_features(tmp_path):
    frame = mixed_frame()
    path = str(tmp_path / "mixed.csv")
    frame.to_csv(path, index=False)
    tables = [frame, pa.Table.from_pandas(frame, preserve_index=False), mixed_dict(),
              read_table(path)]
    prep = Preparation().fit(frame, rows=np.array([0, 1, 2, 3]))
    # flag's empty cell is not among the rows fitted on: no indicator, the median fills it.
    assert prep.feature_names == ["num", "num (missing)", "count", "flag", "color=blue",
                                  "color=red", "color=(missing)", "when", "when (missing)"]
    expected = prep.transform(frame)
    assert np.isfinite(expected).all()
    for table in tables:
        np.testing.assert_array_equal(prep.transform(table), expected)
        other = Preparation().fit(table, rows=np.array([0, 1, 2, 3]))
        assert other.metadata() == prep.metadata()
        np.testing.assert_array_equal(other.transform(table), expected)


def test_a_numpy_array_gives_the_same_features_as_its_columns():
    rng = np.random.default_rng(1)
    array = np.column_stack([rng.normal(size=12), rng.uniform(size=12), np.arange(12) % 3])
    array[4, 1] = np.nan
    names = ["x1", "x2", "x3"]
    frame = pd.DataFrame(array, columns=names)
    tables = [array, frame, pa.Table.from_pandas(frame, preserve_index=False),
              {n: array[:, i].tolist() for i, n in enumerate(names)},
              {n: array[:, i] for i, n in enumerate(names)}]
    prep = Preparation().fit(array)
    assert prep.target_name == "x3" and prep.classes == [0, 1, 2]
    assert prep.feature_names == ["x1", "x2", "x2 (missing)"]
    expected = prep.transform(array)
    for table in tables:
        np.testing.assert_array_equal(prep.transform(table), expected)
        np.testing.assert_array_equal(Preparation().fit(table).transform(table), expected)


def test_a_table_of_features_with_y_given_apart():
    X = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 60.0]])
    prep = Preparation(standardize=False).fit(X, y=np.array(["no", "yes", "no", "yes"]))
    assert prep.feature_names == ["x1", "x2"]
    assert prep.classes == ["no", "yes"]
    np.testing.assert_array_equal(prep.transform(X), X)


# ---------------------------------------------------------------------------- the model file
def test_metadata_through_json_gives_identical_transforms():
    frame = mixed_frame()
    prep = Preparation().fit(frame, rows=np.array([0, 1, 2, 3]))
    text = json.dumps(prep.metadata())
    again = Preparation.from_metadata(json.loads(text))
    later = pd.DataFrame({"num": [np.nan, 100.0], "count": [2, 2], "flag": ["t", None],
                          "color": ["green", None],
                          "when": pd.to_datetime([None, "1970-01-01"])})
    for table in (frame, later):
        np.testing.assert_array_equal(again.transform(table), prep.transform(table))
    assert again.unseen == {"color": 1}
    assert again.feature_names == prep.feature_names
    assert (again.task, again.classes, again.target_name) == ("classification", ["a", "b"],
                                                              "label")
    np.testing.assert_array_equal(again.table_targets(frame), prep.table_targets(frame))
    assert again.labels([1, 0]) == ["b", "a"]
    assert json.dumps(again.metadata()) == text


def test_a_regression_preparation_through_json():
    table = {"x": [1.0, 2.0, 4.0, 8.0], "y": [0.5, 1.5, 2.0, 9.0]}
    prep = Preparation(task="regression").fit(table)
    again = Preparation.from_metadata(json.loads(json.dumps(prep.metadata())))
    np.testing.assert_array_equal(again.transform(table), prep.transform(table))
    values = np.array([[0.0], [2.0]])
    np.testing.assert_array_equal(again.target_units(values, to_network=False),
                                  prep.target_units(values, to_network=False))


def test_an_older_model_without_a_stored_preparation_has_numeric_columns():
    prep = Preparation.from_metadata({"task": "regression"}, n_inputs=2)
    assert prep.feature_names == ["x1", "x2"]
    X = np.array([[1.0, 2.0], [3.0, np.nan]])
    np.testing.assert_array_equal(prep.transform(X), [[1.0, 2.0], [3.0, 0.0]])
    named = Preparation.from_metadata({"task": "regression", "feature_names": ["a", "b"]})
    np.testing.assert_array_equal(named.transform({"a": [1.0], "b": [2.0]}), [[1.0, 2.0]])


def stored():
    prep = Preparation().fit({"x": [1.0, None, 3.0, 4.0], "c": ["a", "b", "a", "b"],
                              "note": ["p q", "r s", "t u", "v w"], "y": [0, 1, 0, 1]})
    metadata = json.loads(json.dumps(prep.metadata()))
    assert metadata["feature_names"] == ["x", "x (missing)", "c=a", "c=b"]
    return metadata


def test_the_stored_preparation_as_written_is_accepted():
    metadata = stored()
    check_stored_columns(metadata["preparation"], metadata["feature_names"])


def tamper_role(preparation):
    preparation["columns"][0]["role"] = "magic"


def tamper_numeric_as_categorical(preparation):
    preparation["columns"][0]["role"] = "categorical"


def tamper_used_as_dropped(preparation):
    preparation["columns"][1] = {"name": "c", "kind": "text", "role": "dropped",
                                 "reason": "asked (--drop)"}


def tamper_nan_fill(preparation):
    preparation["columns"][0]["fill"] = float("nan")


def tamper_infinite_fill(preparation):
    preparation["columns"][0]["fill"] = float("inf")


def tamper_text_fill(preparation):
    preparation["columns"][0]["fill"] = "2"


def tamper_duplicate_name(preparation):
    preparation["columns"][2]["name"] = "x"


def tamper_extra_category(preparation):
    preparation["columns"][1]["categories"].append("z")


def tamper_repeated_category(preparation):
    preparation["columns"][1]["categories"] = ["a", "a"]


def tamper_missing_category(preparation):
    preparation["columns"][1]["missing_category"] = True


def tamper_indicator(preparation):
    preparation["columns"][0]["indicator"] = 1


def tamper_extra_field(preparation):
    preparation["columns"][0]["scale"] = 2.0


def tamper_two_targets(preparation):
    preparation["columns"][2] = {"name": "note", "role": "target", "kind": "text"}


def tamper_on_missing(preparation):
    preparation["on_missing"] = "ignore"


@pytest.mark.parametrize("tamper, message", [
    (tamper_role, "columns[0] must hold a name, a role and a kind"),
    (tamper_numeric_as_categorical, "columns[0].categories must be a list of different texts"),
    (tamper_used_as_dropped, "columns do not produce the model's feature_names"),
    (tamper_nan_fill, "columns[0].fill must be a finite number"),
    (tamper_infinite_fill, "columns[0].fill must be a finite number"),
    (tamper_text_fill, "columns[0].fill must be a finite number"),
    (tamper_duplicate_name, "columns names a column twice"),
    (tamper_extra_category, "columns do not produce the model's feature_names"),
    (tamper_repeated_category, "columns[1].categories must be a list of different texts"),
    (tamper_missing_category, "columns do not produce the model's feature_names"),
    (tamper_indicator, "columns[0].indicator must be true or false"),
    (tamper_extra_field, "columns[0] must hold exactly fill, filled, indicator, kind, name, "
                         "role"),
    (tamper_two_targets, "columns has more than one target"),
    (tamper_on_missing, "on_missing must be fill or refuse"),
])
def test_a_tampered_stored_preparation_is_refused(tamper, message):
    metadata = stored()
    tamper(metadata["preparation"])
    with pytest.raises(ValueError) as info:
        check_stored_columns(metadata["preparation"], metadata["feature_names"])
    assert str(info.value) == f"metadata preparation.{message}"
    with pytest.raises(ValueError, match=r"^metadata preparation\."):
        Preparation.from_metadata(metadata)


def test_stored_feature_names_must_be_what_the_columns_produce():
    metadata = stored()
    with pytest.raises(ValueError, match=r"do not produce the model's feature_names$"):
        check_stored_columns(metadata["preparation"], ["x", "c=a", "c=b"])


# ---------------------------------------------------------------------------- the caller's data
def test_the_callers_tables_are_never_modified(tmp_path):
    frame = mixed_frame()
    array = np.array([[1.0, np.nan, 0.0], [2.0, 3.0, 1.0], [np.nan, 4.0, 0.0],
                      [4.0, 5.0, 1.0]])
    columns = {"a": np.array([1.0, np.nan, 3.0, 4.0]), "b": np.array([1, 2, 1, 2]),
               "y": np.array(["p", "q", "p", "q"], dtype=object)}
    lists = mixed_dict()
    kept = [(frame, frame.copy(deep=True)), (array, array.copy()),
            (columns, copy.deepcopy(columns)), (lists, copy.deepcopy(lists))]
    for table, _ in kept:
        prep = Preparation()
        prep.fit_transform(table, rows=np.array([0, 1, 2]))
        prep.transform(table)
        prep.fit(table)
        prepare(table, test_split=0.25, seed=0)
    pd.testing.assert_frame_equal(frame, kept[0][1])
    np.testing.assert_array_equal(array, kept[1][1])
    assert set(columns) == {"a", "b", "y"}
    for name in columns:
        np.testing.assert_array_equal(columns[name], kept[2][1][name])
    assert lists == kept[3][1]


# ---------------------------------------------------------------------------- prepare
def split_csv(tmp_path, n=40, without_target=(5, 17, 30)):
    """A CSV whose column ``row`` tells its rows apart (numbers with a fraction: a feature)."""
    lines = ["row,x,label"]
    for i in range(n):
        label = "" if i in without_target else ("yes" if i % 3 else "no")
        lines.append(f"{i}.5,{(i * 7) % 11},{label}")
    return write(tmp_path, "\n".join(lines) + "\n")


def row_ids(X):
    return sorted(int(v) for v in np.asarray(X)[:, 0])


def test_prepare_holds_out_rows_disjoint_from_training_and_covering_the_targets(tmp_path):
    path = split_csv(tmp_path)
    data = prepare(path, test_split=0.25, validation_split=0.2, seed=3, standardize=False)
    held = row_ids(data.held_out[0])
    train = row_ids(data.X_train)
    validation = row_ids(data.validation[0])
    with_target = sorted(set(range(40)) - {5, 17, 30})
    assert data.n_held == len(held) == round(0.25 * 37) == 9
    assert len(validation) == round(0.2 * 28) == 6
    assert not set(held) & set(train) and not set(held) & set(validation)
    assert not set(train) & set(validation)
    assert sorted(held + train + validation) == with_target
    assert data.task == "classification" and data.metadata["classes"] == ["no", "yes"]
    assert data.metadata["preparation"]["rows_without_target"] == 3
    # The targets travel with their rows: label "no" exactly where row % 3 == 0.
    for X, Y in (data.held_out, (data.X_train, data.Y_train)):
        rows = np.asarray(X)[:, 0].astype(int)
        np.testing.assert_array_equal(np.argmax(Y, axis=1), (rows % 3 != 0).astype(int))


def test_prepare_fits_the_preparation_on_the_training_rows(tmp_path):
    path = split_csv(tmp_path)
    raw = prepare(path, test_split=0.25, validation_split=0.2, seed=3, standardize=False)
    data = prepare(path, test_split=0.25, validation_split=0.2, seed=3)
    # Fitted on the training rows, validation rows included, never the held-out ones.
    fitted_on = np.concatenate([raw.X_train, raw.validation[0]])
    assert len(fitted_on) == 28
    np.testing.assert_allclose(data.metadata["scaling"]["mean"], fitted_on.mean(axis=0))
    np.testing.assert_allclose(data.metadata["scaling"]["scale"], fitted_on.std(axis=0))
    np.testing.assert_allclose(data.held_out[0], (raw.held_out[0] - fitted_on.mean(axis=0))
                               / fitted_on.std(axis=0))


def test_held_out_rows_depend_on_the_split_seed_only(tmp_path):
    path = split_csv(tmp_path)

    def held(**options):
        # The legacy global generator, which code that draws weights may seed: no matter.
        np.random.seed(options.pop("global_seed", 0))  # noqa: NPY002
        return row_ids(prepare(path, standardize=False, **options).held_out[0])

    first = held(seed=3)
    assert held(seed=3, global_seed=99) == first
    assert held(seed=3, validation_split=0.3) == first
    assert held(seed=3, loss="binary_cross_entropy") == first
    assert held(seed=4) != first


def test_the_cli_weights_seed_never_moves_the_held_out_rows(tmp_path):
    from chainrule.cli import _local_data, build_parser

    path = split_csv(tmp_path)

    def held(*options):
        args = build_parser().parse_args(["train", path, *options])
        return row_ids(_local_data(args, None).held_out[0])

    first = held("--seed", "1", "--split-seed", "5")
    assert held("--seed", "2", "--split-seed", "5") == first
    assert held("--seed", "1", "--split-seed", "6") != first


def test_prepare_a_parquet_file_and_a_table_alike(tmp_path):
    frame = pd.DataFrame({"row": np.arange(20) + 0.5, "c": ["u", "v"] * 10,
                          "label": ["p", "q", "q", "p"] * 5})
    path = str(tmp_path / "t.parquet")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    csv_path = str(tmp_path / "t.csv")
    frame.to_csv(csv_path)  # with pandas' index column
    results = [prepare(source, seed=2) for source in (path, csv_path, frame)]
    for data in results:
        assert data.metadata["feature_names"] == ["row", "c=u", "c=v"]
        np.testing.assert_array_equal(data.held_out[0], results[0].held_out[0])
        np.testing.assert_array_equal(data.X_train, results[0].X_train)
    assert [data.metadata["dataset"] for data in results] == ["t", "t", "table"]


def test_a_refused_cell_after_a_row_of_empty_cells_is_named_by_its_line(tmp_path):
    path = write(tmp_path, "x,y\n1.5,0\n,\n2.5,1\n,1\n3.5,0\n")
    with pytest.raises(DataError) as info:
        prepare(path, on_missing="refuse")
    assert str(info.value) == (f"{path}: row 3, column 'x': the cell is empty (--on-missing "
                               "fill fills it)")


@pytest.mark.parametrize("values, largest", [([1e308, -1e308, 1e308, 5.0], "1e+308"),
                                             ([1e200, -1e200, 3e200, 1.0], "3e+200"),
                                             ([np.finfo(float).max] * 3 + [1.0], "1.79769e+308")])
def test_values_too_large_to_standardise_are_named_with_the_largest(values, largest):
    with pytest.raises(DataError, match=rf"column 'a': values too large to standardise \(up to "
                                        rf"{re.escape(largest)}\)"):
        Preparation(None, task="regression").fit_transform({"a": np.array(values),
                                                            "y": np.arange(4.0)})


class _NoIteration(dict):
    """A dict that fails when iterated over once a key has been removed, as it does when
    another thread removes one meanwhile."""

    popped = False

    def pop(self, *args):
        self.popped = True
        return super().pop(*args)

    def __iter__(self):
        if self.popped:
            raise RuntimeError("dictionary changed size during iteration")
        return super().__iter__()


def test_a_consumed_table_is_encoded_without_iterating_over_the_dict():
    # encode(consume=True) removes each column from the dict on the cores while other columns
    # are being read: a column must be found by its key, never by walking the dict.
    rng = np.random.default_rng(0)
    columns = {f"x{i}": rng.normal(size=50) for i in range(6)}
    columns["y"] = rng.normal(size=50)
    expected = Preparation(task="regression").fit_transform(dict(columns))
    found = Preparation(task="regression").fit_transform(_NoIteration(columns), consume=True)
    np.testing.assert_array_equal(found, expected)
