"""What a table on an AppTest page shows its reader: the cells as drawn (a Styler's display values where the page
formats a column) under the headers' words, in the columns and order the page draws (``column_order``)."""

from __future__ import annotations

import json

import pandas as pd
from streamlit import dataframe_util


def shown(element) -> pd.DataFrame:
    """``element`` (one of ``AppTest.dataframe``) as drawn: every cell as text, a column under its header."""
    raw = element.proto.arrow_data.styler.display_values
    cells = dataframe_util.convert_arrow_bytes_to_pandas_df(raw) if raw else element.value.astype(str)
    order = list(element.proto.column_order) or list(cells.columns)
    config = json.loads(element.proto.columns or "{}")
    header = {c: (config.get(c) or {}).get("label") or c for c in order}
    return cells[order].rename(columns=header).reset_index(drop=True)


def compare_table(at) -> pd.DataFrame:
    """The Compare page's results table as drawn: the one table with a "Recall@20 text" column (an AppTest element
    of ``st.dataframe`` carries no key to find it by)."""
    return shown(next(d for d in at.dataframe if "Recall@20 text" in d.proto.column_order))
