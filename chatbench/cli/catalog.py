"""``chatbench list``: what there is to choose from, read from where each is defined."""

from __future__ import annotations

from chatbench.cli.app import console
from chatbench.configuration import profiles as profiles_cfg
from chatbench.configuration import suites as suites_cfg
from chatbench.configuration import variants as variants_cfg
from chatbench.errors import ChatbenchError


def catalog_lines() -> list[str]:
    """Variants with their descriptions, suites with their questions, profiles, scenarios and
    modes, one section each."""
    lines = ["Variants (--variants; axes: base[axis=value,...], docs/experiments.md):"]
    lines += [f"  {name:<14} {spec.description}" for name, spec in variants_cfg.REGISTRY.items()]
    lines += ["", "Suites (--suite):"]
    for name in suites_cfg.suite_names():
        try:
            question = suites_cfg.load(name).question
        except ChatbenchError as exc:  # a broken suite file is listed, not fatal, here
            question = f"(unreadable: {exc.message})"
        lines.append(f"  {name:<14} {question}")
    lines += ["", "Profiles (--profile):"]
    for name in profiles_cfg.profile_names():
        values = profiles_cfg.read_profile(name)
        lines.append(
            f"  {name:<14} {values.get('mode', 'closed')} mode, {values.get('users', '?')} users, "
            f"{values.get('duration_s', '?')} s x {values.get('repeat', 1)}"
        )
    lines += ["", f"Scenarios (--scenario): {', '.join(profiles_cfg.SCENARIOS)}"]
    lines += [f"Modes (--mode): {', '.join(profiles_cfg.MODES)}"]
    return lines


def list_choices() -> None:
    """List variants (with descriptions), suites, profiles, scenarios and modes."""
    for line in catalog_lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
