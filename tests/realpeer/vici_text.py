"""Parse ``swanctl --list-sas --pretty`` output into nested dicts.

Why the pretty form: it is one item per line (``key = value``, ``name {``, ``name [``, closing
brackets), so values containing spaces (distinguished names) cannot confuse the parser, unlike
the one-line ``--raw`` form.
"""

from __future__ import annotations

from typing import Any


def parse_pretty(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Return the list of ``(event name, section)`` messages in ``text``.

    Sections are dicts whose values are strings, lists of strings or nested sections.
    """
    messages: list[tuple[str, dict[str, Any]]] = []
    stack: list[dict[str, Any] | list[str]] = []
    names: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.endswith("{"):
            name = line[:-1].strip()
            section: dict[str, Any] = {}
            if stack and isinstance(stack[-1], dict):
                stack[-1][name] = section
            names.append(name)
            stack.append(section)
        elif line.endswith("["):
            items: list[str] = []
            if stack and isinstance(stack[-1], dict):
                stack[-1][line[:-1].strip()] = items
            names.append(line[:-1].strip())
            stack.append(items)
        elif line in ("}", "]"):
            if not stack:
                continue
            done = stack.pop()
            name = names.pop()
            if not stack and isinstance(done, dict):
                messages.append((name, done))
        elif stack and isinstance(stack[-1], list):
            stack[-1].append(line)
        elif stack and "=" in line:
            key, _, value = line.partition("=")
            target = stack[-1]
            if isinstance(target, dict):
                target[key.strip()] = value.strip()
    return messages


def ike_sas(text: str) -> list[dict[str, Any]]:
    """IKE SAs from the ``list-sa`` events of ``swanctl --list-sas --pretty``.

    Each section gets its connection name under ``"name"``; during a rekey two IKE SAs of one
    connection exist, so this is a list, not a dict by name.
    """
    result: list[dict[str, Any]] = []
    for event, body in parse_pretty(text):
        if event != "list-sa event":
            continue
        for name, section in body.items():
            if isinstance(section, dict):
                result.append({"name": name, **section})
    return result
