"""keep_freed_memory: validated environment switch, applied once on glibc, off when asked."""

from __future__ import annotations

import platform

import pytest

from recpref.training import allocator


def test_bad_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(allocator.ENV_VAR, "yes")
    with pytest.raises(ValueError, match="RECPREF_KEEP_FREED_MEMORY must be 0"):
        allocator.keep_freed_memory()


@pytest.mark.parametrize("setting", ["0", None])
def test_off_by_default_leaves_allocator_alone(monkeypatch: pytest.MonkeyPatch, setting: str | None) -> None:
    if setting is None:
        monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(allocator.ENV_VAR, setting)
    monkeypatch.setattr(allocator, "_applied", None)
    assert allocator.keep_freed_memory() is False
    assert allocator._applied is None  # nothing was called


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_applied_on_glibc_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(allocator.ENV_VAR, "1")
    assert allocator.keep_freed_memory() is True
    assert allocator.keep_freed_memory() is True  # idempotent
