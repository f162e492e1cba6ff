"""One run of an ingest-API target: read Singer messages, spool, send entity by entity, account for everything.

Reading: every RECORD is prepared and checked against its entity's payload schema; a refused one goes to the
dead-letter store at once, a good one to the spool (last version per key wins; duplicates are counted).
Sending (after the input ends): entities in dependency order; a record whose referenced parent was refused in
this run is dead-lettered with that reason instead of sent. Afterwards: the API's own totals (if declared),
a summary, the run log, an alert when anything was refused or the run failed, and the last STATE — only
now, because only now is everything before it delivered or dead-lettered. A job without an outcome by its
deadline leaves its records neither: then no STATE at all, and exit code 7 (EXIT_OUTCOME_UNKNOWN). When the
API's circuit breaker opens (`CircuitOpen`, exit code 69) the run stops sending at once: the records not yet
accepted are neither dead-lettered nor covered by a STATE, so the next run sends them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
import requests

from ponte.core.errors import CircuitOpen, ConfigError, DataError, PonteError
from ponte.declaration.records import dig
from ponte.declaration.templates import render
from ponte.http import HttpClient
from ponte.http.client import parsed_body
from ponte.http.redaction import Redactor
from ponte.notify import Alert, Alerter, AlertSettings
from ponte.runlog.dead_letters import DeadLetter, DeadLetterStore, dead_letter_store_from_settings
from ponte.runlog.report import launcher_trigger, this_run_id
from ponte.targets.api.definition import EntityDef, TargetDef
from ponte.targets.api.exactly_once import REMOTE_ID, ExactlyOnceSender
from ponte.targets.api.history import ALREADY, DRY_RUN, REFUSED, SENT, SKIPPED, PostgresHistory, history_values
from ponte.targets.api.job_log import JobLog, build_job_log
from ponte.targets.api.job_sender import JobSender
from ponte.targets.api.outcome import Outcome
from ponte.targets.api.payload import PayloadPreparer
from ponte.targets.api.sending import Item, SendContext, batches, in_flight, per_account
from ponte.targets.api.spool import Spool, key_text
from ponte.targets.api.sync_sender import SyncSender
from ponte.targets.postgres.run_log import RunLog
from ponte.targets.postgres.settings import build_conninfo

DEAD_LETTER_FLUSH = 200
EXIT_DEAD_LETTERS = 6  # records were dead-lettered and fail_on_dead_letters is set
EXIT_OUTCOME_UNKNOWN = 7  # a job had no outcome by max_wait_seconds: no STATE was emitted, run again


@dataclass
class Stores:
    """Where the run writes what it did: dead letters, job log, run history (optional)."""

    dead_letters: DeadLetterStore
    job_log: JobLog
    run_log: Any = None


@dataclass
class RunResult:
    """The exit code and the outcomes, for the CLI and the tests."""

    exit_code: int
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    run_id: str = ""


class TargetRun:
    """Reads one Singer input and delivers it to the API."""

    def __init__(
        self,
        target: TargetDef,
        config: Mapping[str, Any],
        client: HttpClient,
        redactor: Redactor,
        logger: logging.Logger,
        out: IO[str],
        clients: Mapping[str, HttpClient] | None = None,
    ) -> None:
        self.target, self.config, self.client, self.redactor, self.logger, self.out = (
            target, config, client, redactor, logger, out,
        )  # fmt: skip
        self.clients = clients
        self.dry_run = bool(config.get("dry_run"))
        self.stores = _open_stores(target, config, redactor)
        self.run_id = str(self.stores.run_log.run_id if self.stores.run_log is not None else this_run_id())
        self.history = _open_history(target, config, redactor, self.run_id, logger)
        self.outcomes = {e.name: Outcome(e.name) for e in target.entities}
        self.preparers = {e.name: PayloadPreparer(e, target.timezone) for e in target.entities}
        self.rejected: dict[str, dict[str, str]] = {e.name: {} for e in target.entities}
        self.pending_letters: list[DeadLetter] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.state: Any = None
        self.duplicate_keys: dict[str, list[Any]] = {}

    # -- the run ------------------------------------------------------------------------------------------
    def run(self, lines: Iterable[str]) -> RunResult:
        spool = Spool(self.config.get("spool_dir") or None)
        error: BaseException | None = None
        try:
            self._read(lines, spool)
            self._send_all(spool)
            self._report()
        except BaseException as exc:  # every failure is logged and alerted, then re-raised
            error = exc
            self.stop.set()
        finally:
            spool.close()
            self._flush_letters()
        self._finish(error)
        if error is not None:
            raise error
        unknown = sum(o.unknown for o in self.outcomes.values())
        if unknown:  # no STATE: it would tell the tap that these records are done
            jobs = sum(o.jobs_unknown for o in self.outcomes.values())
            self.logger.error("%s: %d record(s) in %d job(s) have no known outcome, so no STATE was emitted; run "
                              "again to re-send them (exit code %d)", self.target.plugin, unknown, jobs,
                              EXIT_OUTCOME_UNKNOWN)  # fmt: skip
            return RunResult(EXIT_OUTCOME_UNKNOWN, self.outcomes, self.run_id)
        self._emit_state()
        dead = sum(o.rejected for o in self.outcomes.values())
        # the CLI already read the setting as a boolean (ponte.core.setting_text)
        code = EXIT_DEAD_LETTERS if dead and bool(self.config.get("fail_on_dead_letters")) else 0
        return RunResult(code, self.outcomes, self.run_id)

    def _read(self, lines: Iterable[str], spool: Spool) -> None:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DataError(f"{self.target.plugin}: input line {number} is not JSON ({exc}); is a tap's log "
                                "mixed into its output?") from None  # fmt: skip
            kind = message.get("type")
            if kind == "RECORD":
                self._receive(message, spool)
            elif kind == "SCHEMA":
                self._entity(message.get("stream"))
            elif kind == "STATE":
                self.state = message.get("value")
            elif kind not in ("ACTIVATE_VERSION", "BATCH"):
                self.logger.warning("%s: ignoring a %s message on line %d", self.target.plugin, kind, number)

    def _entity(self, stream: Any) -> EntityDef:
        entity = self.target.entity_for(str(stream))
        if entity is None:
            known = ", ".join(s for e in self.target.entities for s in e.streams)
            raise ConfigError(
                f"{self.target.plugin}: stream '{stream}' feeds no entity of targets/{self.target.name}.yml (it takes: "
                f"{known}); map it with a transform (transforms/*.yml) or deselect it in the tap"
            )
        return entity

    def _receive(self, message: Mapping[str, Any], spool: Spool) -> None:
        stream = str(message.get("stream"))
        entity = self._entity(stream)
        outcome = self.outcomes[entity.name]
        outcome.add(received=1)
        record = message.get("record") or {}
        account = record.get(self.target.account_field) if self.target.account_field else None
        context = history_values(self.target.history, record)
        if entity.reason_field:
            context["_reason"] = record.get(entity.reason_field)
        payload, refusal = self.preparers[entity.name].prepare(record)
        key = entity.key_of(record)
        if refusal is not None and entity.send:
            item = Item(stream, payload, key, None if account is None else str(account), context)
            self.reject(entity, item, refusal.reason, context="invalid before sending")
            return
        self.rejected[entity.name].pop(key_text(key), None)  # a later, valid version supersedes a refused one
        body = {"payload": payload, "account": account, "context": context, "key": key}
        if spool.put(entity.name, key, stream, body):
            outcome.add(duplicates=1)
            examples = self.duplicate_keys.setdefault(entity.name, [])
            if len(examples) < 10:
                examples.append(key)

    # -- sending ------------------------------------------------------------------------------------------
    def _send_all(self, spool: Spool) -> None:
        for name, keys in self.duplicate_keys.items():
            entity = next(e for e in self.target.entities if e.name == name)
            self.logger.warning(
                "%s: %d %s record(s) repeated a %s already seen in this run; merged, the last version is sent "
                "(first ones: %s)", self.target.plugin, self.outcomes[name].duplicates, name, entity.key,
                ", ".join(map(str, keys)),
            )  # fmt: skip
        for entity in self.target.entities:
            count = spool.count(entity.name)
            if not count:
                continue
            if not entity.send or self.dry_run:
                self._hold_back(entity, spool)
                continue
            if self.stores.run_log is not None:
                self.stores.run_log.start(entity.name, f"{self.target.plugin}:{entity.path}")
            context = SendContext(self.client, self.target, entity, self.outcomes[entity.name], self.reject, self.stop,
                                  self.clients, self._sent, self._found)  # fmt: skip
            sender: JobSender | ExactlyOnceSender | SyncSender
            if entity.job is not None:
                sender = JobSender(context, self.stores.job_log, self.run_id, self.logger)
            elif entity.find_existing is not None:
                sender = ExactlyOnceSender(context)
            else:
                sender = SyncSender(context)
            self.logger.info("%s: sending %d %s record(s)", self.target.plugin, count, entity.name)
            items = self._parents_checked(entity, spool)
            if self.clients:  # one lane per account, each at its own budget
                per_account(items, entity, sender.send, self.stop)
            else:
                in_flight(batches(items, entity, count), entity.parallel, sender.send, self.stop)
            self._flush_letters()
            unknown = self.outcomes[entity.name].unknown
            if unknown:
                self._log_entity(entity, "failed", f"{unknown} record(s) in jobs whose outcome is unknown; run again")
            else:
                self._log_entity(entity, "succeeded")

    def _hold_back(self, entity: EntityDef, spool: Spool) -> None:
        """Records not sent: a `send: false` entity's (skipped, with their reason) or any in a dry run (shown)."""
        outcome = self.outcomes[entity.name]
        for item in self._items(entity, spool):
            outcome.add(skipped=1)
            context = item.context or {}
            if not entity.send:
                self._record(entity, item, SKIPPED, context.get("_reason"))
                continue
            line = render(entity.dry_run_line, {"record": _flat_scope(item)}) if entity.dry_run_line else None
            self.logger.info("%s: dry run, not sent: %s", self.target.plugin,
                             self.redactor.redact(str(line or item.payload)))  # fmt: skip
            self._record(entity, item, DRY_RUN, None)

    def _items(self, entity: EntityDef, spool: Spool) -> Iterable[Item]:
        for stream, body in spool.items(entity.name):
            account = body.get("account")
            yield Item(stream, body["payload"], body.get("key"), None if account is None else str(account),
                       body.get("context"))  # fmt: skip

    def _sent(self, items: list[Item]) -> None:
        for item in items:
            self._record(self.outcomes_entity(item), item, SENT, None)

    def _found(self, item: Item) -> None:
        self._record(self._entity(item.stream), item, ALREADY, "already in the API (find_existing): not posted again")

    def outcomes_entity(self, item: Item) -> EntityDef:
        return self._entity(item.stream)

    def _record(self, entity: EntityDef, item: Item, status: str, reason: str | None) -> None:
        if self.history is not None:
            context = item.context or {}
            values = {k: v for k, v in context.items() if not k.startswith("_")}
            if self.target.history is not None and self.target.history.remote_id_column:
                values[self.target.history.remote_id_column] = context.get(REMOTE_ID)
            self.history.add(entity.name, item.account, status, reason, values)

    def _parents_checked(self, entity: EntityDef, spool: Spool) -> Iterable[Item]:
        for item in self._items(entity, spool):
            reason = self._rejected_parent(entity, item.payload)
            if reason:
                self.reject(entity, item, reason)
            else:
                self.outcomes[entity.name].add(sent=1)
                yield item

    def _rejected_parent(self, entity: EntityDef, payload: Mapping[str, Any]) -> str | None:
        for field_name, parent in entity.references.items():
            values = payload.get(field_name)
            for value in values if isinstance(values, list) else [values]:
                why = self.rejected[parent].get(key_text(value)) if value is not None else None
                if why is not None:
                    return (f"not sent: its {field_name} '{value}' refers to {parent} '{value}', which was refused in "
                            f"this run ({why}); fix that record, then replay both")  # fmt: skip
        return None

    def reject(
        self, entity: EntityDef, item: Item, reason: str, api_response: Any = None, *, context: str = ""
    ) -> None:
        """Dead-letter one record (thread-safe); remember its key so its children are not sent.

        The letter's reason starts with the cause (the API's own words where it gave some) and ends with where
        it happened, so a listing cut to the screen's width still shows why.
        """
        key = item.key if item.key is not None else entity.key_of(item.payload)
        names = "+".join(entity.keys or (entity.key,))
        where = f"{entity.name} {names}={key!r}" + (f"; {context}" if context else "")
        where += f"; account {item.account}" if item.account is not None else ""
        letter = DeadLetter(
            target=self.target.plugin,
            stream=item.stream,
            record=item.payload,
            reason=f"{reason} ({where})",
            entity=entity.name,
            api_response=api_response,
            run_id=self.run_id,
        )
        with self.lock:
            if key is not None:
                self.rejected[entity.name][key_text(key)] = reason
            self.pending_letters.append(letter)
            flush = len(self.pending_letters) >= DEAD_LETTER_FLUSH
        self.outcomes[entity.name].add(rejected=1)
        self._record(entity, item, REFUSED, reason)
        self.logger.warning("%s: dead-lettered %s", self.target.plugin, self.redactor.redact(letter.reason))
        if flush:
            self._flush_letters()

    def _flush_letters(self) -> None:
        with self.lock:
            letters, self.pending_letters = self.pending_letters, []
        if letters:
            self.stores.dead_letters.add(letters)

    # -- after the run ------------------------------------------------------------------------------------
    def _report(self) -> None:
        report = self.target.report
        if not report:
            return
        try:
            request = requests.Request("GET", self.target.url(report["path"])).prepare()
            body = parsed_body(self.client.send(request, label="after-run status"))
        except PonteError as exc:
            self.logger.warning("%s: could not read the API's totals: %s", self.target.plugin, exc)
            return
        totals = dig(body, report["totals_field"]) or {}
        for name, outcome in self.outcomes.items():
            value = totals.get(name) if isinstance(totals, dict) else None
            value = value.get(report.get("total_field") or "total") if isinstance(value, dict) else value
            outcome.platform_total = value if isinstance(value, int) else None

    def _log_entity(self, entity: EntityDef, status: str, error: str | None = None) -> None:
        run_log = self.stores.run_log
        if run_log is None:
            return
        outcome = self.outcomes[entity.name]
        inserted = outcome.created if (outcome.created or outcome.updated) else outcome.delivered
        run_log.add(entity.name, inserted=inserted, updated=outcome.updated, rejected=outcome.rejected)
        run_log.finish(entity.name, status, error)

    def _finish(self, error: BaseException | None) -> None:
        if error is not None and self.stores.run_log is not None:
            self.stores.run_log.finish_all("failed", self.redactor.redact(str(error)))
        if error is None or self._anything_happened():  # a fatal error alone is the CLI's one line, no zeros
            self.logger.info(self.redactor.redact(self.summary()))
        self._alert(error)
        if self.history is not None:
            self.history.close()
        self.stores.job_log.close()
        self.stores.dead_letters.close()
        if self.stores.run_log is not None:
            self.stores.run_log.close()

    def _anything_happened(self) -> bool:
        """Whether the API or the dead-letter store saw anything of this run."""
        return any(o.delivered or o.rejected or o.unknown or o.jobs or o.created or o.updated or o.skipped
                   for o in self.outcomes.values())  # fmt: skip

    def summary(self) -> str:
        """A table an operator reads at a glance: per entity what came in, what landed, what was refused."""
        show_total = any(o.platform_total is not None for o in self.outcomes.values())
        show_unknown = any(o.unknown for o in self.outcomes.values())
        show_already = any(o.already for o in self.outcomes.values())
        head = ["entity", "received", "duplicates", "delivered", "created", "updated", "dead-lettered", "not sent"]
        head += ["already there"] if show_already else []
        head += ["outcome unknown"] if show_unknown else []
        head += ["jobs"] + (["platform total"] if show_total else [])
        rows = [head]
        for outcome in self.outcomes.values():
            if not outcome.received:
                continue
            row = [outcome.entity, outcome.received, outcome.duplicates, outcome.delivered, outcome.created,
                   outcome.updated, outcome.rejected, outcome.skipped]  # fmt: skip
            row += [outcome.already] if show_already else []
            row += [outcome.unknown] if show_unknown else []
            row += [outcome.jobs]
            rows.append([str(v) for v in row] + ([str(outcome.platform_total or "-")] if show_total else []))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
        dry = " (dry run: nothing was sent)" if self.dry_run else ""
        return f"{self.target.plugin} run {self.run_id}{dry}:\n{table}"

    def _alert(self, error: BaseException | None) -> None:
        settings = AlertSettings.from_config(self.config)
        if not settings.enabled:
            return
        dead = sum(o.rejected for o in self.outcomes.values())
        jobs = sum(o.jobs_with_failures + o.jobs_failed for o in self.outcomes.values())
        unknown = sum(o.unknown for o in self.outcomes.values())
        if error is None and not dead and not jobs and not unknown:
            return
        if isinstance(error, CircuitOpen):
            severity, title = "error", f"API unavailable: circuit open for {error.api}"
            summary = self.redactor.redact(str(error))
        elif error is not None:
            severity, title = "error", f"run failed: {type(error).__name__}"
            summary = self.redactor.redact(str(error))
        elif unknown:
            severity = "error"
            title = f"{unknown} record(s) with unknown outcome"
            summary = (f"{sum(o.jobs_unknown for o in self.outcomes.values())} job(s) had no outcome by "
                       f"max_wait_seconds; no STATE was emitted, run again to re-send them. {dead} record(s) "
                       "were dead-lettered.")  # fmt: skip
        else:
            severity = "warning"
            title = f"{jobs} job(s) ended with failures" if jobs else f"{dead} record(s) dead-lettered"
            summary = f"{dead} record(s) were refused and are in the dead-letter store; the others landed."
        details = {name: {k: v for k, v in vars(o).items() if k not in ("lock", "entity")}
                   for name, o in self.outcomes.items() if o.received}  # fmt: skip
        alert = Alert(self.target.plugin, severity, title, summary, details, run_id=self.run_id)
        Alerter(settings, redact=self.redactor.redact, logger=self.logger).send(alert)

    def _emit_state(self) -> None:
        """Write the last STATE *value* as one JSON line, as Singer targets do: Meltano stores that line as is.

        A whole `{"type": "STATE", ...}` message here would be stored wrapped, and the next run would find no
        bookmarks and re-read everything.
        """
        if self.state is not None:
            self.out.write(json.dumps(self.state) + "\n")
            self.out.flush()


def _flat_scope(item: Item) -> dict[str, Any]:
    """What a dry-run line may name: the payload's fields, the history columns, `account`."""
    return {**item.payload, **(item.context or {}), "account": item.account}


def _open_history(
    target: TargetDef, config: Mapping[str, Any], redactor: Redactor, run_id: str, logger: logging.Logger
) -> PostgresHistory | None:
    if target.history is None:
        return None
    if not config.get("run_log_dsn"):
        logger.warning("%s: declares a history table (%s) but run_log_dsn is empty, so no history is written",
                       target.plugin, target.history.table)  # fmt: skip
        return None
    schema = str(config.get("run_log_schema") or "ponte")
    return PostgresHistory(str(config["run_log_dsn"]), schema, target.history, target.plugin, run_id,
                           launcher_trigger(), redactor.redact)  # fmt: skip


def _open_stores(target: TargetDef, config: Mapping[str, Any], redactor: Redactor) -> Stores:

    def conninfo(dsn: str) -> str:
        return build_conninfo({"dsn": dsn}, application_name=target.plugin)

    store = dead_letter_store_from_settings(config, target.plugin, redact=redactor.redact, conninfo=conninfo)
    if store is None:
        raise ConfigError(f"{target.plugin}: dead_letter_store none is not allowed here: an API target must keep "
                          "what the API refuses (use file or postgres)")  # fmt: skip
    run_log = None
    if config.get("run_log_dsn"):
        run_log = RunLog(conninfo(config["run_log_dsn"]), config.get("run_log_schema") or "ponte", target.plugin)
    return Stores(store, build_job_log(config, redact=redactor.redact), run_log)
