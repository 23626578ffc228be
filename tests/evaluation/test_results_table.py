from __future__ import annotations

import pytest

from maskrcnn_ext.evaluation import format_per_category_table, format_results_table
from maskrcnn_ext.evaluation.results_table import format_percent


def test_results_table_prints_percentages_with_one_decimal():
    results = {
        "bbox": {"AP": 0.7234, "AP50": 0.9, "AP75": 0.80049, "APs": 0.0, "APm": 0.5, "APl": float("nan")},
        "segm": {"AP": 0.651, "AP50": 0.88, "AP75": 0.7, "APs": 0.1, "APm": 0.45, "APl": 0.999},
        "gt_counts": {"small": 3, "medium": 2, "large": 0},
    }
    table = format_results_table(results)
    lines = table.splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == ["task", "AP", "AP50", "AP75", "APs", "APm", "APl"]
    assert len({len(line) for line in lines}) == 1  # columns are padded to a common width
    assert len(lines) == 4  # header, separator, bbox, segm: gt_counts is not a metric row
    bbox_cells = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert bbox_cells == ["bbox", "72.3", "90.0", "80.0", "0.0", "50.0", "nan"]
    segm_cells = [c.strip() for c in lines[3].split("|")[1:-1]]
    assert segm_cells == ["segm", "65.1", "88.0", "70.0", "10.0", "45.0", "99.9"]


def test_missing_metric_prints_dash():
    table = format_results_table({"bbox": {"AP": 0.5}})
    assert [c.strip() for c in table.splitlines()[2].split("|")[1:-1]] == ["bbox", "50.0", "-", "-", "-", "-", "-"]


@pytest.mark.parametrize(("value", "text"), [(0.7234, "72.3"), (0.72351, "72.4"), (1.0, "100.0"), (None, "-")])
def test_format_percent(value, text):
    assert format_percent(value) == text


def test_per_category_table_wraps_columns():
    table = format_per_category_table({"AP-cat": 0.5, "AP-dog": 0.25, "AP-bird": 1.0}, num_columns=2)
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()]
    assert rows[0] == ["category", "AP", "category", "AP"]
    assert rows[2] == ["cat", "50.0", "dog", "25.0"]
    assert rows[3] == ["bird", "100.0", "", ""]
    with pytest.raises(ValueError, match="num_columns must be >= 1"):
        format_per_category_table({}, num_columns=0)
