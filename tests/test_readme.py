"""The README documents every config field, exactly as the dataclasses define them."""

import re
from pathlib import Path

import pytest

from r1lab.config import fields_markdown
from r1lab.eval.config import EvalConfig
from r1lab.models.base_config import BaseConfig
from r1lab.pipeline.ablate import AblateConfig
from r1lab.pipeline.distill_config import DistillConfig
from r1lab.pipeline.recipe import PipelineConfig
from r1lab.pipeline.sample import SampleConfig
from r1lab.serve.config import ChatConfig, ServeConfig
from r1lab.train.config import GRPOConfig
from r1lab.train.sft import SFTConfig

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def sync_readme() -> None:
    """Rewrite the README's field tables (run: python tests/test_readme.py)."""
    text = README.read_text()
    for cls in (GRPOConfig, PipelineConfig, SFTConfig, SampleConfig, DistillConfig, AblateConfig, BaseConfig,
                EvalConfig, ServeConfig, ChatConfig):
        block = f"<!-- fields:{cls.__name__} -->\n{fields_markdown(cls)}\n<!-- /fields -->"
        text = re.sub(rf"<!-- fields:{cls.__name__} -->.*?<!-- /fields -->", lambda m, block=block: block, text,
                      flags=re.S)
    README.write_text(text)


@pytest.mark.parametrize("cls", [GRPOConfig, PipelineConfig, SFTConfig, SampleConfig, DistillConfig,
                                 AblateConfig, BaseConfig, EvalConfig, ServeConfig, ChatConfig])
def test_readme_field_tables_are_current(cls):
    text = README.read_text()
    block = re.search(rf"<!-- fields:{cls.__name__} -->\n(.*?)\n<!-- /fields -->", text, flags=re.S)
    assert block, f"README lacks the {cls.__name__} table"
    assert block.group(1) == fields_markdown(cls), "README field table is stale: run python tests/test_readme.py"


def test_readme_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    cmds = [line for line in lines[:8] if line.startswith("python3 -m venv")]
    assert len(cmds) == 2 and cmds[0].endswith("r1lab train") and "pytest" in cmds[1]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_pictures_and_recipes_named_in_the_docs_exist(page):
    """A picture the results cite, a page they point to, or a recipe a command runs must be in the repository."""
    text = page.read_text()
    targets = [m.group(1) for m in re.finditer(r"\]\(([^)#\s]+)[^)]*\)", text) if "://" not in m.group(1)]
    recipes = re.findall(r"--config (recipes/[\w.-]+\.yaml)", text)
    missing = [t for t in targets if not (page.parent / t).exists()] + [r for r in recipes if not (ROOT / r).exists()]
    assert not missing, f"{page.name} names files that are not in the repository: {missing}"


if __name__ == "__main__":
    sync_readme()
