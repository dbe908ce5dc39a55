"""Every folder of the package is a regular package, so a wheel (not only an editable install)
ships it: setuptools' find_packages skips folders without __init__.py."""

from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "r1lab"


def test_every_code_folder_has_an_init():
    missing = [str(d.relative_to(PKG.parent)) for d in PKG.rglob("*")
               if d.is_dir() and any(d.glob("*.py")) and not (d / "__init__.py").exists()]
    assert missing == []
