"""The file dead-letter store: add, list with filters, mark, fix a record, permissions, redaction."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ponte.core.errors import ConfigError
from ponte.runlog.dead_letters import DeadLetter, DeadLetterNotFound, FileDeadLetterStore, build_dead_letter_store


def letter(stream: str = "pedidos", target: str = "bling", **extra: object) -> DeadLetter:
    values: dict = {"record": {"id": 1}, "reason": "HTTP 422: campo obrigatório", "run_id": "run-1", **extra}
    return DeadLetter(target=target, stream=stream, **values)


def test_add_and_get_round_trip_with_ids_and_private_file(tmp_path: Path) -> None:
    path = tmp_path / "dlq" / "letters.jsonl"
    store = FileDeadLetterStore(path)
    ids = store.add([letter(api_response={"error": "x"}, entity="Pedido"), letter(record={"id": 2})])
    assert ids == [1, 2]
    assert store.add([letter()]) == [3]
    got = store.get(1)
    assert (got.target, got.stream, got.entity, got.record, got.api_response) == (
        "bling", "pedidos", "Pedido", {"id": 1}, {"error": "x"}
    )  # fmt: skip
    assert got.status == "open" and got.run_id == "run-1" and got.created_at.tzinfo is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(DeadLetterNotFound):
        store.get(99)


def test_list_filters_and_limit(tmp_path: Path) -> None:
    store = FileDeadLetterStore(tmp_path / "l.jsonl")
    store.add([letter("a"), letter("b"), letter("a", target="sienge"), letter("a", run_id="run-2")])
    assert [x.id for x in store.list()] == [1, 2, 3, 4]
    assert [x.id for x in store.list(stream="a")] == [1, 3, 4]
    assert [x.id for x in store.list(target="sienge")] == [3]
    assert [x.id for x in store.list(run_id="run-2")] == [4]
    assert [x.id for x in store.list(limit=2)] == [1, 2]
    assert FileDeadLetterStore(tmp_path / "missing.jsonl").list() == []
    with pytest.raises(ConfigError):
        store.list(status="bogus")


def test_mark_and_update_record_rewrite_privately(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    store = FileDeadLetterStore(path)
    store.add([letter(), letter(), letter()])
    assert store.mark([1, 3], "discarded") == 2
    assert [x.id for x in store.list()] == [2]
    assert [x.id for x in store.list(status="discarded")] == [1, 3]
    assert len(store.list(status="all")) == 3
    store.update_record(2, {"id": 2, "qty": 5})
    assert store.get(2).record == {"id": 2, "qty": 5}
    store.mark([2], "replayed")
    assert store.list() == [] and store.get(2).status == "replayed"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(DeadLetterNotFound):
        store.mark([2, 42], "open")
    with pytest.raises(ConfigError):
        store.mark([2], "all")
    assert store.add([letter()]) == [4]


def test_redact_applies_to_reason_and_api_response(tmp_path: Path) -> None:
    store = FileDeadLetterStore(tmp_path / "l.jsonl", redact=lambda text: text.replace("s3cret", "***"))
    store.add([
        letter(reason="401 with token s3cret", api_response={"echo": "Bearer s3cret"}),
        letter(api_response="raw s3cret body"),
    ])  # fmt: skip
    first, second = store.list()
    assert first.reason == "401 with token ***" and first.api_response == {"echo": "Bearer ***"}
    assert second.api_response == "raw *** body"
    assert "s3cret" not in (tmp_path / "l.jsonl").read_text()


def test_build_dead_letter_store(tmp_path: Path) -> None:
    assert isinstance(build_dead_letter_store({"type": "file", "path": str(tmp_path / "x")}), FileDeadLetterStore)
    for spec in ({"type": "file"}, {"type": "postgres"}, {"type": "s3"}):
        with pytest.raises(ConfigError):
            build_dead_letter_store(spec)


def test_pages_newest_first_with_the_panels_filters(tmp_path: Path) -> None:
    from ponte.runlog.dead_letters import LetterFilter
    from ponte.runs.dead_letters import edit, page, parse_record

    store = FileDeadLetterStore(tmp_path / "letters.jsonl")
    store.add([letter(entity="Pedido", pipeline="loja", reason=f"HTTP 422: CPF inválido ({n})") for n in range(5)])
    store.add([letter(stream="notas", reason="HTTP 400: série") for _ in range(3)])
    first, following = page(store, LetterFilter(), limit=3)
    assert [x.id for x in first] == [8, 7, 6] and following == 6
    rest, last = page(store, LetterFilter(before_id=following), limit=3)
    assert [x.id for x in rest] == [5, 4, 3] and last == 3
    assert [x.id for x in page(store, LetterFilter(pipeline="loja", reason="cpf INVÁLIDO"), 10)[0]] == [5, 4, 3, 2, 1]
    assert [x.id for x in page(store, LetterFilter(entity="notas"), 10)[0]] == [8, 7, 6]  # no entity: the stream
    assert store.choices() == {"pipeline": ["bling", "loja"], "entity": ["Pedido", "notas"]}

    assert edit(store, 1, parse_record('{"id": 9}')).record == {"id": 9}
    store.mark([1], "discarded")
    with pytest.raises(ConfigError, match="discarded, not open"):
        edit(store, 1, {"id": 10})
    for text, message in (("[1]", "JSON object"), ('{"id": ', "not valid JSON")):
        with pytest.raises(ConfigError, match=message):
            parse_record(text)
