"""The Bling API v3 resource endpoints: filters, ordering and list/detail shapes per docs/api-facts-bling-totvs.md §2.

Every handler gets the request (its `context["account"]` is the token's company) and answers `{"data": ...}`.
Lists are newest first (highest id first) [G: the API documents no order], filtered in memory, then paged.
Unknown ids answer 404 RESOURCE_NOT_FOUND, also for another company's ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ponte.sandbox.bling import catalog, sales
from ponte.sandbox.bling import contacts as people
from ponte.sandbox.bling import query as q
from ponte.sandbox.bling.account import Account
from ponte.sandbox.bling.company import Rec, render_dates
from ponte.sandbox.bling.errors import BlingError, not_found, validation
from ponte.sandbox.server import Request, Response, Router

if TYPE_CHECKING:
    from ponte.sandbox.bling.app import BlingApp

Test = Callable[[Rec], bool] | None


def add_routes(router: Router, app: BlingApp) -> None:
    """Register every resource endpoint (paths relative to /Api/v3)."""
    r = Resources(app)
    router.add("GET", "/empresas/me/dados-basicos", r.company)
    router.add("GET", "/produtos", r.products)
    router.add("GET", "/produtos/lotes", r.lots)
    router.add("GET", r"/produtos/(?P<id>\d+)", r.product)
    router.add("GET", "/depositos", r.deposits)
    router.add("GET", r"/depositos/(?P<id>\d+)", r.deposit)
    router.add("GET", "/estoques/saldos", r.balances)
    router.add("GET", r"/estoques/saldos/(?P<id>\d+)", r.deposit_balances)
    router.add("POST", "/estoques", r.post_stock)
    router.add("GET", "/pedidos/vendas", r.orders)
    router.add("GET", r"/pedidos/vendas/(?P<id>\d+)", r.order)
    router.add("GET", "/contatos", r.contacts)
    router.add("GET", r"/contatos/(?P<id>\d+)", r.contact)
    router.add("GET", "/ordens-producao", r.production)
    router.add("GET", r"/ordens-producao/(?P<id>\d+)", r.production_order)


class Resources:
    """Handlers bound to the app (for switches and the clock)."""

    def __init__(self, app: BlingApp) -> None:
        self.app = app

    # --- helpers --------------------------------------------------------------------------------------------
    def _ok(self, data: Any, status: int = 200) -> Response:
        return Response(status, {"data": render_dates(data, self.app.switches["empty_date"])})

    def _detail(self, by_id: Mapping[int, Rec], request: Request, missing: str) -> Response:
        """The record whose id is in the path, or Bling's 404 with the resource's `missing` message."""
        rec = by_id.get(int(request.params["id"]))
        if rec is None:
            raise not_found(missing)
        return self._ok(dict(rec.data))

    def _page(self, request: Request, recs: Iterable[Rec], row: Callable[[Rec], Any]) -> Response:
        ordered = sorted(recs, key=lambda rec: rec.id, reverse=True)
        chunk = q.page(request, self.app.switches["limite_over_max"]).of(ordered)
        return self._ok([row(rec) for rec in chunk])

    def _range(self, request: Request, prefix: str) -> q.Range:
        now = q.local_naive(self.app.now())
        return q.date_range(request, prefix, now, self.app.switches["one_year_rule_open_ranges"])

    @staticmethod
    def _account(request: Request) -> Account:
        return request.context["account"]

    # --- company --------------------------------------------------------------------------------------------
    def company(self, request: Request) -> Response:
        return self._ok(self._account(request).company.basic())

    # --- products -------------------------------------------------------------------------------------------
    def product_detail(self, account: Account, rec: Rec) -> dict[str, Any]:
        """ProdutosDadosDTO with live balances (used by the admin touch too)."""
        stock, situacao = account.stock, self.app.switches["excluded_product_situacao"]
        variations = None
        if rec.data["formato"] == "V":
            children = [account.catalog.by_id[c] for c in rec.extra.get("children", [])]
            variations = [catalog.as_variation(c, stock.virtual_total(c.id)) for c in children]
        return catalog.detail(rec, stock.virtual_total(rec.id), situacao, variations)

    def products(self, request: Request) -> Response:
        account = self._account(request)
        sw = self.app.switches
        criterio = q.choice(request, "criterio", ("1", "2", "3", "4", "5"), "1")
        tipo = q.choice(request, "tipo", ("T", "P", "S", "E", "PS", "C", "V"), "T")
        created, modified = self._range(request, "dataInclusao"), self._range(request, "dataAlteracao")
        ids, codes, gtins = q.int_array(request, "idsProdutos"), q.array(request, "codigos"), q.array(request, "gtins")
        name = request.query.get("nome", "").strip().casefold()
        category = q.integer(request, "idCategoria")
        component = q.integer(request, "idComponente")
        saldo = q.choice(request, "filtroSaldoEstoque", ("0", "1", "2"))
        if saldo is None and sw["saldo_filter_default_applies"]:
            saldo = "1"
        saldo_deposit = q.integer(request, "filtroSaldoEstoqueDeposito")
        stock = account.stock

        def by_criterio(rec: Rec) -> bool:
            if criterio == "4":
                return rec.excluded
            if criterio == "5":
                return True
            if rec.excluded:
                return False
            return criterio == "1" or rec.data["situacao"] == ("A" if criterio == "2" else "I")

        def by_tipo(rec: Rec) -> bool:
            child, data = "idProdutoPai" in rec.extra, rec.data
            if tipo in ("T", "P") and child and not sw["variations_in_todos"]:
                return False
            return {
                "T": True,
                "P": data["tipo"] == "P",
                "S": data["tipo"] in ("S", "N"),
                "E": data["formato"] == "E",
                "PS": data["formato"] == "S" and data["tipo"] == "P" and not child,
                "C": data["formato"] == "V",
                "V": child,
            }[tipo or "T"]

        def by_saldo(rec: Rec) -> bool:
            value = stock.virtual_total(rec.id, saldo_deposit)
            return value == 0 if saldo == "0" else value > 0 if saldo == "1" else value < 0

        rows = q.filtered(
            account.catalog.products,
            by_criterio,
            by_tipo,
            (lambda rec: rec.created in created) if not created.open else None,
            (lambda rec: rec.modified in modified) if not modified.open else None,
            (lambda rec: rec.id in ids) if ids else None,
            (lambda rec: rec.data["codigo"] in codes) if codes else None,
            (lambda rec: rec.data["gtin"] in gtins) if gtins else None,
            (lambda rec: name in rec.data["nome"].casefold()) if name else None,
            (lambda rec: rec.data["categoria"]["id"] == category) if category is not None else None,
            (lambda rec: _has_component(rec, component)) if component is not None else None,
            by_saldo if saldo is not None else None,
        )
        situacao = sw["excluded_product_situacao"]
        return self._page(request, rows, lambda rec: catalog.list_row(rec, stock.virtual_total(rec.id), situacao))

    def product(self, request: Request) -> Response:
        account = self._account(request)
        rec = account.catalog.by_id.get(int(request.params["id"]))
        if rec is None:
            raise not_found("O produto não foi encontrado.")
        return self._ok(self.product_detail(account, rec))

    # --- deposits and stock ---------------------------------------------------------------------------------
    def deposits(self, request: Request) -> Response:
        account = self._account(request)
        default = "1" if self.app.switches["depositos_default_active"] else None
        situacao = q.choice(request, "situacao", ("0", "1"), default)
        text = request.query.get("descricao", "").strip().casefold()
        rows = q.filtered(
            account.catalog.deposits,
            (lambda rec: str(rec.data["situacao"]) == situacao) if situacao is not None else None,
            (lambda rec: text in rec.data["descricao"].casefold()) if text else None,
        )
        chunk = q.page(request, self.app.switches["limite_over_max"]).of(sorted(rows, key=lambda rec: rec.id))
        return self._ok([dict(rec.data) for rec in chunk])

    def deposit(self, request: Request) -> Response:
        rec = self._deposit(request)
        return self._ok(dict(rec.data))

    def _deposit(self, request: Request) -> Rec:
        account = self._account(request)
        wanted = int(request.params["id"])
        for rec in account.catalog.deposits:
            if rec.id == wanted:
                return rec
        raise not_found("O depósito não foi encontrado.")

    def _balance_products(self, request: Request, account: Account) -> list[Rec]:
        ids, codes = q.int_array(request, "idsProdutos"), q.array(request, "codigos")
        if not ids and not codes:  # [C3] the documented error
            raise BlingError(
                400,
                "VALIDATION_ERROR",
                "Não foi possível obter o saldo em estoque",
                "O saldo em estoque não pode ser obtido, pois nenhum produto foi informado.",
            )
        self._check_id_count(ids)
        by_id = account.catalog.by_id
        recs = [by_id[i] for i in ids if i in by_id]
        if codes:
            wanted, seen = set(codes), {r.id for r in recs}
            recs += [r for r in account.catalog.products if r.data["codigo"] in wanted and r.id not in seen]
        saldo = q.choice(request, "filtroSaldoEstoque", ("0", "1", "2"))
        if saldo is None and self.app.switches["saldo_filter_default_applies"]:
            saldo = "1"
        if saldo is not None:
            stock = account.stock

            def keep(rec: Rec) -> bool:
                value = stock.virtual_total(rec.id)
                return value == 0 if saldo == "0" else value > 0 if saldo == "1" else value < 0

            recs = [r for r in recs if keep(r)]
        return recs

    def _check_id_count(self, ids: list[int]) -> None:
        most = self.app.switches["max_ids_per_request"]
        if most is not None and len(ids) > most:
            raise validation(f"Informe no máximo {most} produtos por requisição (recebidos: {len(ids)}).")

    def balances(self, request: Request) -> Response:
        account = self._account(request)
        out = []
        for rec in self._balance_products(request, account):
            physical, virtual, per = account.stock.totals(rec.id)
            out.append(
                {
                    "produto": {"id": rec.id, "codigo": rec.data["codigo"]},
                    "saldoFisicoTotal": physical,
                    "saldoVirtualTotal": virtual,
                    "depositos": per,
                }
            )
        return self._ok(out)

    def deposit_balances(self, request: Request) -> Response:
        account = self._account(request)
        deposit = self._deposit(request)
        out = []
        for rec in self._balance_products(request, account):
            physical, virtual = account.stock.at(rec.id, deposit.id)
            out.append(
                {
                    "produto": {"id": rec.id, "codigo": rec.data["codigo"]},
                    "saldoFisicoTotal": physical,
                    "saldoVirtualTotal": virtual,
                }
            )
        return self._ok(out)

    def post_stock(self, request: Request) -> Response:
        account = self._account(request)
        if not request.body.strip():
            raise BlingError(
                400,
                "MISSING_REQUIRED_FIELD_ERROR",
                "Não foi possível executar a operação",
                "Nenhum dado foi informado na requisição.",
            )
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            raise BlingError(
                400, "INVALID_REQUEST_BODY", "Não foi possível executar a operação", "O corpo da requisição é inválido."
            ) from None
        movement = account.stock.post(body, self.app.switches["refuse_stock_on_variation_parent"])
        self.app.webhooks.stock_moved(account, [movement])  # under the account's lock: the balances right now
        return self._ok({"id": movement.id}, status=201)

    def lots(self, request: Request) -> Response:
        account = self._account(request)
        ids = q.int_array(request, "idsProdutos")
        if not ids:
            raise BlingError(
                400,
                "VALIDATION_ERROR",
                "Não foi possível obter os lotes",
                "Os lotes não podem ser obtidos, pois nenhum produto foi informado.",
            )
        self._check_id_count(ids)
        lot_ids = set(q.int_array(request, "idsLotes"))
        deposit_ids = set(q.int_array(request, "idsDepositos"))
        codes = set(q.array(request, "codigosLotes"))
        status = q.choice(request, "status", ("A", "I"))
        valid, made = self._range(request, "dataValidade"), self._range(request, "dataFabricacao")
        created = self._range(request, "dataCriacao")
        wanted = set(ids)
        rows = q.filtered(
            account.lots,
            lambda rec: rec.data["produto"]["id"] in wanted,
            (lambda rec: rec.id in lot_ids) if lot_ids else None,
            (lambda rec: rec.data["deposito"]["id"] in deposit_ids) if deposit_ids else None,
            (lambda rec: rec.data["codigoLote"] in codes) if codes else None,
            (lambda rec: rec.data["status"] == (1 if status == "A" else 2)) if status else None,
            (lambda rec: q.day_of(rec.data["dataValidade"]) in valid) if not valid.open else None,
            (lambda rec: q.day_of(rec.data["dataFabricacao"]) in made) if not made.open else None,
            (lambda rec: rec.created in created) if not created.open else None,
        )
        chunk = q.page(request, self.app.switches["limite_over_max"]).of(sorted(rows, key=lambda rec: rec.id))
        return self._ok([dict(rec.data) for rec in chunk])

    # --- sales orders ---------------------------------------------------------------------------------------
    def orders(self, request: Request) -> Response:
        account = self._account(request)
        day, changed = self._range(request, "data"), self._range(request, "dataAlteracao")
        due = self._range(request, "dataPrevista")
        states = set(q.int_array(request, "idsSituacoes"))
        store_numbers = set(q.array(request, "numerosLojas"))
        contact, number = q.integer(request, "idContato"), q.integer(request, "numero")
        store, seller = q.integer(request, "idLoja"), q.integer(request, "idVendedor")
        unit = q.integer(request, "idUnidadeNegocio")
        rows = q.filtered(
            account.orders,
            (lambda rec: q.day_of(rec.data["data"]) in day) if not day.open else None,
            (lambda rec: rec.modified in changed) if not changed.open else None,
            (lambda rec: q.day_of(rec.data["dataPrevista"]) in due) if not due.open else None,
            (lambda rec: rec.data["situacao"]["id"] in states) if states else None,
            (lambda rec: rec.data["numeroLoja"] in store_numbers) if store_numbers else None,
            (lambda rec: rec.data["contato"]["id"] == contact) if contact is not None else None,
            (lambda rec: rec.data["numero"] == number) if number is not None else None,
            (lambda rec: rec.data["loja"]["id"] == store) if store is not None else None,
            (lambda rec: rec.data["vendedor"]["id"] == seller) if seller is not None else None,
            (lambda rec: rec.data["loja"]["unidadeNegocio"]["id"] == unit) if unit is not None else None,
        )
        return self._page(request, rows, sales.order_row)

    def order(self, request: Request) -> Response:
        return self._detail(self._account(request).orders_by_id, request, "O pedido de venda não foi encontrado.")

    # --- contacts -------------------------------------------------------------------------------------------
    def contacts(self, request: Request) -> Response:
        account = self._account(request)
        criterio = q.choice(request, "criterio", ("1", "2", "3", "4"), "3")
        created, modified = self._range(request, "dataInclusao"), self._range(request, "dataAlteracao")
        search = request.query.get("pesquisa", "").strip().casefold()
        ids = set(q.int_array(request, "idsContatos"))
        kind = q.choice(request, "tipoPessoa", ("1", "2", "3"))
        contact_type, seller = q.integer(request, "idTipoContato"), q.integer(request, "idVendedor")
        uf = request.query.get("uf", "").strip().upper()
        phone = people.digits(request.query.get("telefone", ""))
        document = people.digits(request.query.get("numeroDocumento", ""))
        with_excluded = self.app.switches["contatos_todos_includes_excluded"]

        def by_criterio(rec: Rec) -> bool:
            situacao = rec.data["situacao"]
            if criterio == "2":
                return situacao == "E"
            if criterio == "4":
                return situacao == "S"
            return situacao != "E" or (criterio == "1" and with_excluded)

        def by_search(rec: Rec) -> bool:
            data = rec.data
            fields = (data["nome"], data["fantasia"], data["email"], data["codigo"], data["numeroDocumento"])
            return any(search in str(f).casefold() for f in fields) or (
                bool(people.digits(search)) and people.digits(search) in people.digits(data["numeroDocumento"])
            )

        rows = q.filtered(
            account.people.contacts,
            by_criterio,
            (lambda rec: rec.created in created) if not created.open else None,
            (lambda rec: rec.modified in modified) if not modified.open else None,
            by_search if search else None,
            (lambda rec: rec.id in ids) if ids else None,
            (lambda rec: people.tipo_pessoa(rec) == {"1": "F", "2": "J", "3": "E"}[kind]) if kind else None,
            (lambda rec: any(t["id"] == contact_type for t in rec.data["tiposContato"])) if contact_type else None,
            (lambda rec: rec.data["vendedor"]["id"] == seller) if seller is not None else None,
            (lambda rec: rec.data["endereco"]["geral"]["uf"] == uf) if uf else None,
            (lambda rec: phone in people.digits(rec.data["telefone"] + " " + rec.data["celular"])) if phone else None,
            (lambda rec: people.digits(rec.data["numeroDocumento"]) == document) if document else None,
        )
        return self._page(request, rows, people.list_row)

    def contact(self, request: Request) -> Response:
        return self._detail(self._account(request).contacts_by_id, request, "O contato não foi encontrado.")

    # --- production orders ----------------------------------------------------------------------------------
    def production(self, request: Request) -> Response:
        account = self._account(request)
        states = set(q.int_array(request, "idsSituacoes"))
        rows = q.filtered(account.production, (lambda rec: rec.data["situacao"]["id"] in states) if states else None)
        return self._page(request, rows, sales.production_row)

    def production_order(self, request: Request) -> Response:
        return self._detail(self._account(request).production_by_id, request, "A ordem de produção não foi encontrada.")


def _has_component(rec: Rec, component: int) -> bool:
    parts = rec.data.get("estrutura", {}).get("componentes", [])
    return any(part["produto"]["id"] == component for part in parts)


def naive(moment: dt.datetime) -> dt.datetime:
    """Re-exported for admin: aware -> naive Brasília time."""
    return q.local_naive(moment)
