from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
import torch

from recpref.data import Interactions, Vocabulary


def _toy() -> Interactions:
    return Interactions.from_raw(
        ["b", "a", "a", "c", "a"], [20, 10, 30, 10, 20],
        weights=[2.0, 1.0, 3.0, 4.0, 5.0], timestamps=[4, 5, 3, 2, 1],
    )


class TestConstruction:
    def test_csr_is_canonical_and_vocab_sorted(self) -> None:
        x = _toy()
        assert x.shape == (3, 3) and x.nnz == 5
        assert x.user_vocab.raw.tolist() == ["a", "b", "c"]
        assert x.item_vocab.raw.tolist() == [10, 20, 30]
        assert x.indptr.tolist() == [0, 3, 4, 5]
        assert x.indices.tolist() == [0, 1, 2, 1, 0]
        # weights and timestamps follow their pairs through the sort
        assert x.weights.tolist() == [1.0, 5.0, 3.0, 2.0, 4.0]
        assert x.timestamps is not None and x.timestamps.tolist() == [5, 1, 3, 4, 2]
        assert x.order.tolist() == [1, 4, 2, 0, 3]

    def test_arrays_are_read_only(self) -> None:
        x = _toy()
        for arr in (x.indptr, x.indices, x.weights, x.order):
            with pytest.raises(ValueError):
                arr[0] = 0

    def test_from_indices_identity_vocab(self) -> None:
        x = Interactions.from_indices([0, 2, 2], [1, 0, 3], n_users=4, n_items=5)
        assert x.shape == (4, 5)
        assert x.user_counts.tolist() == [1, 0, 2, 0]
        assert x.item_counts.tolist() == [1, 1, 0, 1, 0]
        assert not x.has_weights and x.weights.tolist() == [1.0, 1.0, 1.0]
        assert x.items_of(2).tolist() == [0, 3]

    def test_from_polars_round_trip(self) -> None:
        df = pl.DataFrame({"u": [7, 7, 3], "i": ["x", "y", "x"], "r": [1.0, 2.0, 3.0], "t": [10, 20, 30]})
        x = Interactions.from_polars(df, user_col="u", item_col="i", weight_col="r", time_col="t")
        back = x.to_polars().sort(["user_id", "item_id"])
        assert back["user_id"].to_list() == [3, 7, 7]
        assert back["item_id"].to_list() == ["x", "x", "y"]
        assert back["weight"].to_list() == [3.0, 1.0, 2.0]
        assert back["timestamp"].to_list() == [30, 10, 20]

    def test_from_polars_missing_column(self) -> None:
        df = pl.DataFrame({"u": [1], "i": [2]})
        with pytest.raises(ValueError, match=r"columns \['rating'\] not in DataFrame"):
            Interactions.from_polars(df, user_col="u", item_col="i", weight_col="rating")

    def test_from_polars_null_ids(self) -> None:
        df = pl.DataFrame({"u": [1, None], "i": [2, 3]})
        with pytest.raises(ValueError, match="column 'u' has 1 null ids"):
            Interactions.from_polars(df, user_col="u", item_col="i")

    def test_given_vocab_keeps_spaces_aligned(self) -> None:
        train = Interactions.from_raw([1, 2], ["a", "b"])
        test = Interactions.from_raw([2], ["a"], user_vocab=train.user_vocab, item_vocab=train.item_vocab)
        assert train.same_space(test)
        assert test.rows.tolist() == [1] and test.indices.tolist() == [0]

    def test_from_csr(self) -> None:
        m = sp.random(6, 9, density=0.3, format="csr", random_state=0)
        m.sort_indices()
        x = Interactions.from_csr(m)
        assert x.indptr.tolist() == m.indptr.tolist() and x.indices.tolist() == m.indices.tolist()
        np.testing.assert_allclose(x.weights, m.data.astype(np.float32))

    def test_torch_view(self) -> None:
        x = _toy()
        t = x.to_torch("cpu")
        assert t.indptr.dtype == torch.int64 and t.indices.dtype == torch.int64
        assert t.weights.dtype == torch.float32
        assert t.indptr.tolist() == x.indptr.tolist() and (t.n_users, t.n_items) == (3, 3)

    def test_select_and_binarized(self) -> None:
        x = _toy()
        part = x.select(x.weights > 2.5)
        assert part.nnz == 3 and part.same_space(x)
        assert sorted(part.weights.tolist()) == [3.0, 4.0, 5.0]
        assert x.binarized().weights.tolist() == [1.0] * 5


class TestDedupe:
    def _dups(self, dedupe: str) -> Interactions:
        return Interactions.from_raw(
            [1, 1, 2, 1], [5, 5, 5, 5], weights=[1.0, 2.0, 7.0, 4.0], timestamps=[10, 30, 5, 20],
            dedupe=dedupe,  # type: ignore[arg-type]
        )

    def test_error_names_rows_and_pair(self) -> None:
        with pytest.raises(ValueError, match=r"2 duplicate \(user, item\) pairs, e\.g\. input rows 0 and 1: \(user 1, item 5\)"):
            Interactions.from_raw([1, 1, 2, 1], [5, 5, 5, 5])

    def test_keep_first(self) -> None:
        x = self._dups("keep_first")
        assert x.nnz == 2 and x.weights.tolist() == [1.0, 7.0]

    def test_keep_last(self) -> None:
        x = self._dups("keep_last")
        assert x.weights.tolist() == [4.0, 7.0] and x.timestamps is not None
        assert x.timestamps.tolist() == [20, 5]

    def test_sum(self) -> None:
        x = self._dups("sum")
        assert x.weights.tolist() == [7.0, 7.0]
        assert x.timestamps is not None and x.timestamps.tolist() == [30, 5]

    def test_bad_mode(self) -> None:
        with pytest.raises(ValueError, match="dedupe must be"):
            Interactions.from_raw([1], [1], dedupe="drop")  # type: ignore[arg-type]


class TestBadInput:
    def test_empty(self) -> None:
        with pytest.raises(ValueError, match="no interactions: the input is empty"):
            Interactions.from_raw([], [])

    def test_mismatched_lengths(self) -> None:
        with pytest.raises(ValueError, match="mismatched lengths: user 3, item 2"):
            Interactions.from_raw([1, 2, 3], [1, 2])
        with pytest.raises(ValueError, match="mismatched lengths: user 2, item 2, weights 3"):
            Interactions.from_indices([0, 1], [0, 1], n_users=2, n_items=2, weights=[1, 2, 3])

    def test_negative_ids(self) -> None:
        with pytest.raises(ValueError, match=r"1 item indices out of range \[0, 4\), e\.g\. row 1: item -1"):
            Interactions.from_indices([0, 1], [2, -1], n_users=2, n_items=4)

    def test_out_of_range_ids(self) -> None:
        with pytest.raises(ValueError, match=r"2 user indices out of range \[0, 2\), e\.g\. row 0: user 2"):
            Interactions.from_indices([2, 0, 5], [0, 0, 1], n_users=2, n_items=4)

    def test_nan_weights(self) -> None:
        with pytest.raises(ValueError, match=r"2 NaN or infinite weights, e\.g\. at rows 1, 2"):
            Interactions.from_indices([0, 1, 1], [0, 0, 1], n_users=2, n_items=2, weights=[1.0, np.nan, np.inf])

    def test_nan_timestamps(self) -> None:
        with pytest.raises(ValueError, match="1 NaN timestamps"):
            Interactions.from_indices([0, 1], [0, 0], n_users=2, n_items=1, timestamps=[1.0, np.nan])

    def test_nan_ids(self) -> None:
        with pytest.raises(ValueError, match="NaN"):
            Interactions.from_indices(np.array([0.0, np.nan]), [0, 0], n_users=2, n_items=1)

    def test_unknown_ids_with_vocab(self) -> None:
        vocab = Vocabulary(["a", "b"])
        with pytest.raises(ValueError, match=r"1 unknown user id\(s\), e\.g\. 'z'"):
            Interactions.from_raw(["a", "z"], [1, 2], user_vocab=vocab)

    def test_mixed_id_types(self) -> None:
        with pytest.raises(ValueError, match="mix types"):
            Interactions.from_raw(np.array([1, "a"], dtype=object), [1, 2])

    def test_explicit_zero_in_csr(self) -> None:
        m = sp.csr_matrix((np.array([1.0, 0.0]), np.array([0, 1]), np.array([0, 2])), shape=(1, 2))
        with pytest.raises(ValueError, match="1 explicit zero entries"):
            Interactions.from_csr(m)

    def test_select_mask_shape(self) -> None:
        with pytest.raises(ValueError, match=r"mask has shape \(2,\), expected \(5,\)"):
            _toy().select([True, False])

    def test_items_of_range(self) -> None:
        with pytest.raises(IndexError, match="user index 3 out of range"):
            _toy().items_of(3)


class TestVocabulary:
    def test_round_trip(self) -> None:
        v = Vocabulary.from_ids([30, 10, 20, 10])
        assert v.raw.tolist() == [10, 20, 30]
        assert v.index([20, 30]).tolist() == [1, 2]
        assert v.to_raw([2, 0]).tolist() == [30, 10]

    def test_duplicate_raw_ids(self) -> None:
        with pytest.raises(ValueError, match="duplicate raw id 'a'"):
            Vocabulary(["a", "b", "a"])

    def test_identity_fast_path_checks_range(self) -> None:
        v = Vocabulary.identity(3)
        assert v.index([0, 2]).tolist() == [0, 2]
        with pytest.raises(KeyError, match="unknown id"):
            v.index([3])

    def test_to_raw_out_of_range(self) -> None:
        with pytest.raises(IndexError):
            Vocabulary.identity(2).to_raw([2])
