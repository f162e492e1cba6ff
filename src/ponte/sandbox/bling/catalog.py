"""Products (`/produtos`) and deposits (`/depositos`) of one Bling account: a Brazilian e-commerce catalogue.

Ten departments (clothing, shoes, electronics, kitchen, beauty, pet, stationery, sports, toys, grocery) with real
NCM codes, units, fictional brands, SKUs and valid GTIN-13s (prefix 789, check digit). Most products are simple
(`formato` S); some have variations (V, whose children carry `idProdutoPai` and names like
"Camiseta Básica Algodão Cor:Preto;Tamanho:M"); some are kits (E, `estrutura.componentes` pointing at simple
products); a few are services (`tipo` S). Shapes follow ProdutosDadosBaseDTO (list) and ProdutosDadosDTO (detail).

Accounts share one catalogue, as a seller with several Bling accounts does (the stock sync of issue #17 matches
products by `codigo`): catalogue model m is the same product (SKU `CAM-0042`, name, price, kind, GTIN) in every
account that carries it, with the account's own ids and stock. loja-matriz carries every model up to its size
(its data is what it was before accounts shared SKUs); `MATRIZ_ONLY` % of the models only it carries; in
`OWN` % every other account has a product of its own instead, SKU suffixed `-L<company number>`
(`BEL-0067-L2`); the other accounts, skipping matriz-only models, reach a few models past the matriz's last.
A kit has the same SKU everywhere but its components are picked in each account. Deposits, the same in every
account: "Depósito Geral" (padrao: the principal one, most stock), "Loja Física Centro", "Estoque Compartilhado
(marketplaces)" (the shared one a sync sets) and an inactive "Depósito Antigo (desativado)".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

from ponte.sandbox import brdata as br
from ponte.sandbox.bling.company import ZERO_DATE, Company, Rec, ident, later, spread

SALT = 900
MATRIZ_ONLY = 5  # % of catalogue models only loja-matriz carries
OWN = 4  # % of models every other account replaces by one of its own (SKU suffix -L<company number>)
BASE_PRODUCT = 16_480_000_000
BASE_CATEGORY = 5_610_000_000
BASE_DEPOSIT = 14_889_000_000
BASE_SUPPLIER_LINK = 19_320_000_000
FIRST = dt.datetime(2023, 3, 1, 9, 0)
LAST = dt.datetime(2026, 6, 26, 18, 0)


class Department(NamedTuple):
    """One product family: category name, SKU prefix, unit, NCM, CEST, lot control, prices, weights, variations."""

    name: str
    prefix: str
    unit: str
    ncm: str
    cest: str
    lots: bool
    price: tuple[float, float]
    weight: tuple[float, float]
    axes: tuple[tuple[str, tuple[str, ...]], ...]
    brands: tuple[str, ...]
    items: tuple[str, ...]


COLORS = ("Preto", "Branco", "Azul Marinho", "Cinza Mescla", "Verde Oliva", "Vermelho")
DEPARTMENTS: tuple[Department, ...] = (
    Department("Camisetas", "CAM", "UN", "6109.10.00", "", False, (39.9, 129.9), (0.15, 0.3),
               (("Cor", COLORS), ("Tamanho", ("P", "M", "G", "GG"))), ("Aurora Wear", "Tropicana"),
               ("Camiseta Básica Algodão", "Camiseta Gola V Premium", "Camiseta Estampada Tropical", "Regata Dry Fit", "Camiseta Oversized")),
    Department("Calçados", "CAL", "PAR", "6404.19.00", "", False, (59.9, 349.9), (0.5, 1.2),
               (("Tamanho", ("35", "36", "37", "38", "39", "40", "41", "42")),), ("Passo Firme", "Vila Verde"),
               ("Tênis Casual Couro", "Sandália Rasteira", "Chinelo Slide", "Tênis Corrida Leve", "Bota Coturno")),
    Department("Eletrônicos", "ELE", "UN", "8518.30.00", "21.064.00", False, (29.9, 499.9), (0.05, 0.8),
               (("Cor", ("Preto", "Branco", "Azul")),), ("Sonora", "Voltz"),
               ("Fone de Ouvido Bluetooth", "Caixa de Som Portátil", "Carregador Turbo USB-C 20W", "Cabo USB-C 2 m", "Smartwatch Fit")),
    Department("Casa e Cozinha", "CZN", "UN", "7323.93.00", "", False, (19.9, 399.9), (0.3, 4.0), (),
               ("Casa Bela", "Cozinha Viva"),
               ("Jogo de Panelas Antiaderente 5 Peças", "Garrafa Térmica Inox 1 L", "Kit Potes Herméticos 10 Peças", "Tábua de Corte Bambu", "Escorredor de Louça Inox")),
    Department("Beleza", "BEL", "UN", "3305.10.00", "20.030.00", True, (14.9, 89.9), (0.2, 0.45), (),
               ("Essenza", "Flor de Lis"),
               ("Shampoo Hidratante 300 ml", "Condicionador Reparador 300 ml", "Máscara Capilar 250 g", "Óleo Corporal 200 ml", "Sabonete Líquido Erva-Doce 250 ml")),
    Department("Pet Shop", "PET", "UN", "2309.10.00", "", True, (9.9, 289.9), (0.5, 15.0), (),
               ("Amigo Pet", "Faro Fino"),
               ("Ração Premium Cães Adultos 15 kg", "Petisco Natural 500 g", "Ração Gatos Castrados 10 kg", "Areia Higiênica 4 kg", "Coleira Ajustável Nylon")),
    Department("Papelaria", "PAP", "UN", "4820.20.00", "", False, (5.9, 79.9), (0.05, 0.9), (),
               ("Traço Fino", "Papel & Cia"),
               ("Caderno Universitário 10 Matérias", "Kit Canetas Gel 6 Cores", "Agenda Executiva 2026", "Estojo Escolar Duplo", "Bloco de Notas Adesivas")),
    Department("Esporte", "ESP", "UN", "9506.91.00", "", False, (19.9, 219.9), (0.1, 2.0),
               (("Cor", ("Preto", "Rosa", "Verde Limão")),), ("Vitta Sport", "Arena"),
               ("Garrafa Squeeze 750 ml", "Tapete de Yoga 6 mm", "Corda de Pular com Rolamento", "Kit Elásticos de Treino", "Bola de Futebol Society")),
    Department("Brinquedos", "BRQ", "UN", "9503.00.99", "", False, (29.9, 259.9), (0.2, 1.5), (),
               ("Brincar", "Pequeno Gênio"),
               ("Quebra-Cabeça 500 Peças", "Blocos de Montar 200 Peças", "Carrinho de Controle Remoto", "Boneca de Pano", "Jogo da Memória Animais")),
    Department("Mercearia", "MER", "UN", "0901.21.00", "17.096.00", True, (12.9, 69.9), (0.25, 1.0), (),
               ("Sabor da Serra", "Empório Mineiro"),
               ("Café Especial Torrado em Grãos 500 g", "Azeite Extra Virgem 500 ml", "Mel Silvestre 300 g", "Granola Artesanal 800 g", "Chocolate 70% Cacau 100 g")),
)  # fmt: skip
LINES = ("", "Premium", "Essencial", "Plus", "Eco", "Pro")
SERVICES = (
    "Embalagem para Presente",
    "Personalização com Nome",
    "Garantia Estendida 12 Meses",
    "Montagem e Instalação",
)
DEPOSITS = (
    ("Depósito Geral", 1, True),
    ("Loja Física Centro", 1, False),
    ("Estoque Compartilhado (marketplaces)", 1, False),
    ("Depósito Antigo (desativado)", 0, False),
)


def gtin13(body12: str) -> str:
    """GTIN-13 with its check digit (weights 1,3 from the left)."""
    total = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def money(value: float) -> float:
    """Two decimals, as Bling's prices are."""
    return round(value + 1e-9, 2)


@dataclass
class Catalog:
    """One account's products (oldest first), categories, deposits and which products hold stock."""

    products: list[Rec]
    by_id: dict[int, Rec]
    categories: dict[str, int]
    deposits: list[Rec]
    stocked: list[int]  # simple physical products (and variation children): where stock is posted
    lot_products: list[int]


def deposits(seed: int, company: Company) -> list[Rec]:
    """Three active deposits (the first is the default, the third the one a sync shares) and one inactive one."""
    out = []
    for seq, (name, situacao, default) in enumerate(DEPOSITS):
        did = ident(BASE_DEPOSIT, company.no, seq, seed, SALT + 1)
        created = dt.datetime(2022, 2, 1, 10, 0) + dt.timedelta(days=90 * seq)
        data = {"id": did, "descricao": name, "situacao": situacao, "padrao": default, "desconsiderarSaldo": False}
        out.append(Rec(did, data, created, created))
    return out


def model_reach(seed: int, model: int) -> str:
    """Which accounts carry catalogue model `model` (see the module notes): 'all', 'matriz' or 'own'."""
    roll = br.mix(seed, model, SALT + 20) % 100
    return "matriz" if roll < MATRIZ_ONLY else "own" if roll < MATRIZ_ONLY + OWN else "all"


def _key(seed: int, no: int, model: int) -> int:
    """The hash key of a model in an account: the matriz's for shared models (same SKU, name, price, kind)."""
    if no == 1 or model_reach(seed, model) == "all":
        return 1_000_003 + model
    return no * 1_000_003 + model


def build(seed: int, company: Company, n: int, suppliers: list[Rec], cap: dt.datetime) -> Catalog:
    """n products for the account (kits need three simple products first; variations count as products)."""
    no = company.no
    categories = {d.name: ident(BASE_CATEGORY, no, k, seed, SALT + 2) for k, d in enumerate(DEPARTMENTS)}
    categories["Serviços"] = ident(BASE_CATEGORY, no, len(DEPARTMENTS), seed, SALT + 2)
    own_prefix = 789_0000 + br.mix(seed, no, SALT + 3) % 9000
    shared_prefix = 789_0000 + br.mix(seed, 1, SALT + 3) % 9000  # shared models keep the matriz's GTINs
    products: list[Rec] = []
    simple: list[Rec] = []
    stocked: list[int] = []
    lot_products: list[int] = []
    model = 0
    while len(products) < n:
        model += 1
        reach = model_reach(seed, model)
        if no > 1 and reach == "matriz":
            continue
        key = _key(seed, no, model)
        gtin_prefix = shared_prefix if key < 2_000_000 else own_prefix
        h = br.mix(seed, key, SALT + 4)
        roll = h % 100
        dept = DEPARTMENTS[(h >> 8) % len(DEPARTMENTS)]
        seq = len(products)
        created = spread(seed, SALT + 5 + no, seq, n, FIRST, LAST)
        modified = later(seed, SALT + 6, key, created, 0.4, 300, cap)
        maker = _Maker(seed, company, key, created, modified, gtin_prefix, categories, suppliers)
        maker.own = key >= 2_000_000
        if roll < 4 and len(simple) >= 3:
            products.append(maker.service(ident(BASE_PRODUCT, no, seq, seed, SALT + 7), model))
        elif roll < 12 and len(simple) >= 3:
            products.append(maker.kit(ident(BASE_PRODUCT, no, seq, seed, SALT + 7), model, simple))
        elif roll < 30 and dept.axes and n - seq >= 3:
            children = 2 + (h >> 16) % 3
            children = min(children, n - seq - 1, len(_combos(dept.axes, h, 99)))
            ids = [ident(BASE_PRODUCT, no, seq + k, seed, SALT + 7) for k in range(children + 1)]
            family = maker.with_variations(ids, model, dept)
            products.extend(family)
            stocked.extend(r.id for r in family[1:])
            if dept.lots:
                lot_products.extend(r.id for r in family[1:])
        else:
            rec = maker.simple(ident(BASE_PRODUCT, no, seq, seed, SALT + 7), model, dept)
            products.append(rec)
            simple.append(rec)
            stocked.append(rec.id)
            if dept.lots:
                lot_products.append(rec.id)
    return Catalog(products, {r.id: r for r in products}, categories, deposits(seed, company), stocked, lot_products)


class _Maker:
    """Builds the records of one product model (a simple product, a family with variations, a kit, a service)."""

    def __init__(
        self,
        seed: int,
        company: Company,
        key: int,
        created: dt.datetime,
        modified: dt.datetime,
        gtin_prefix: int,
        categories: dict[str, int],
        suppliers: list[Rec],
    ) -> None:
        self.seed, self.company, self.key = seed, company, key
        self.created, self.modified = created, modified
        self.h = br.mix(seed, key, SALT + 8)
        self.gtin_prefix, self.categories, self.suppliers = gtin_prefix, categories, suppliers
        self.own = False  # a model only this (non-matriz) account carries: its SKU gets the suffix -L<no>

    def _code(self, prefix: str, model: int) -> str:
        return f"{prefix}-{model:04d}" + (f"-L{self.company.no}" if self.own else "")

    def _state(self) -> tuple[str, bool]:
        roll = (self.h >> 40) % 100
        return ("I" if 4 <= roll < 11 else "A"), roll < 4  # (situacao, excluded)

    def _price(self, dept: Department) -> float:
        low, high = dept.price
        return money(low + (self.h >> 12) % 1000 / 999 * (high - low))

    def _base(self, pid: int, name: str, code: str, price: float, dept: Department | None) -> dict[str, Any]:
        h = self.h
        supplier = self.suppliers[(h >> 20) % len(self.suppliers)] if self.suppliers else None
        cost = money(price * (0.38 + (h >> 24) % 25 / 100))
        weight = (dept.weight[0] + (h >> 28) % 100 / 99 * (dept.weight[1] - dept.weight[0])) if dept else 0.0
        image = f"https://orgbling.s3.amazonaws.com/{self.company.id[:12]}/produtos/{pid}.jpg"
        brand = dept.brands[(h >> 32) % len(dept.brands)] if dept else ""
        situacao, _ = self._state()
        return {
            "id": pid,
            "nome": name[:120],
            "codigo": code,
            "preco": price,
            "tipo": "P",
            "situacao": situacao,
            "formato": "S",
            "descricaoCurta": f"{name}. Produto {brand} com garantia de fábrica." if brand else name,
            "imagemURL": image,
            "dataValidade": ZERO_DATE,
            "unidade": dept.unit if dept else "UN",
            "pesoLiquido": round(weight, 3),
            "pesoBruto": round(weight * 1.1, 3),
            "volumes": 1,
            "itensPorCaixa": 1.0,
            "gtin": "",
            "gtinEmbalagem": "",
            "tipoProducao": "T" if (h >> 36) % 4 else "P",
            "condicao": 1,
            "freteGratis": price >= 199,
            "marca": brand,
            "descricaoComplementar": "",
            "linkExterno": "",
            "observacoes": "",
            "descricaoEmbalagemDiscreta": "",
            "categoria": {"id": self.categories[dept.name] if dept else self.categories["Serviços"]},
            "estoque": {
                "minimo": float((h >> 44) % 10),
                "maximo": float(100 + (h >> 48) % 400),
                "crossdocking": int((h >> 52) % 4),
                "localizacao": f"{(h >> 54) % 20 + 1:02d}{'ABCDEF'[(h >> 58) % 6]}",
                "saldoVirtualTotal": 0.0,
            },
            "fornecedor": {
                "id": ident(BASE_SUPPLIER_LINK, self.company.no, self.key % 1_000_003, self.seed, SALT + 9),
                "contato": {"id": supplier.id, "nome": supplier.data["nome"]} if supplier else {"id": 0, "nome": ""},
                "codigo": f"F-{code}",
                "precoCusto": cost,
                "precoCompra": cost,
            },
            "actionEstoque": "",
            "dimensoes": {
                "largura": float(10 + (h >> 5) % 30),
                "altura": float(5 + (h >> 9) % 25),
                "profundidade": float(3 + (h >> 13) % 20),
                "unidadeMedida": 1,
            },
            "tributacao": {
                "origem": 0,
                "nFCI": "",
                "ncm": dept.ncm if dept else "",
                "cest": dept.cest if dept else "",
                "codigoListaServicos": "" if dept else "14.01",
                "spedTipoItem": "00" if dept else "09",
                "codigoItem": code,
                "percentualTributos": 0.0,
                "valorBaseStRetencao": 0.0,
                "valorStRetencao": 0.0,
                "valorICMSSubstituto": 0.0,
                "codigoExcecaoTipi": "",
                "classeEnquadramentoIpi": "",
                "valorIpiFixo": 0.0,
                "codigoSeloIpi": "",
                "valorPisFixo": 0.0,
                "valorCofinsFixo": 0.0,
                "codigoANP": "",
                "descricaoANP": "",
                "percentualGLP": 0.0,
                "percentualGasNacional": 0.0,
                "percentualGasImportado": 0.0,
                "valorPartida": 0.0,
                "tipoArmamento": 0,
                "descricaoCompletaArmamento": "",
                "dadosAdicionais": "",
                "grupoProduto": {"id": 0},
            },
            "midia": {
                "video": {"url": ""},
                "imagens": {"imagensURL": [], "externas": [{"link": image}], "internas": []},
            },
            "linhaProduto": {"id": 0},
            "camposCustomizados": [],
            "artigoPerigoso": False,
            "variacoes": [],
        }

    def _gtin(self, serial: int) -> str:
        return gtin13(f"{self.gtin_prefix:07d}{serial % 100_000:05d}")

    def _rec(self, data: dict[str, Any], moved: int = 0) -> Rec:
        _, excluded = self._state()
        seconds = dt.timedelta(seconds=moved)
        return Rec(data["id"], data, self.created + seconds, max(self.modified, self.created + seconds), excluded)

    def _name(self, dept: Department) -> str:
        h = self.h
        parts = (
            dept.items[(h >> 2) % len(dept.items)],
            LINES[(h >> 56) % len(LINES)],
            dept.brands[(h >> 32) % len(dept.brands)],
        )
        return " ".join(p for p in parts if p)

    def simple(self, pid: int, model: int, dept: Department) -> Rec:
        name = self._name(dept)
        data = self._base(pid, name, self._code(dept.prefix, model), self._price(dept), dept)
        data["gtin"] = data["gtinEmbalagem"] = self._gtin(model * 8)
        return self._rec(data)

    def with_variations(self, ids: list[int], model: int, dept: Department) -> list[Rec]:
        name = self._name(dept)
        code = self._code(dept.prefix, model)
        price = self._price(dept)
        parent = self._base(ids[0], name, code, price, dept)
        parent["formato"] = "V"
        combos = _combos(dept.axes, self.h, len(ids) - 1)
        family = [self._rec(parent)]
        for order, (pid, combo) in enumerate(zip(ids[1:], combos, strict=True), start=1):
            label = ";".join(f"{axis}:{value}" for axis, value in combo)
            suffix = "-".join(_abbr(value) for _, value in combo)
            child = self._base(pid, f"{name} {label}", f"{code}-{suffix}", price, dept)
            child["situacao"] = parent["situacao"]
            child["gtin"] = child["gtinEmbalagem"] = self._gtin(model * 8 + order)
            rec = self._rec(child, moved=order)
            rec.extra["idProdutoPai"] = ids[0]
            rec.extra["variacao"] = {"nome": label, "ordem": order, "produtoPai": {"id": ids[0], "cloneInfo": True}}
            family.append(rec)
        family[0].extra["children"] = ids[1:]
        return family

    def kit(self, pid: int, model: int, simple: list[Rec]) -> Rec:
        picks: list[Rec] = []
        for k in range(2 + (self.h >> 3) % 2):
            candidate = simple[(self.h >> (10 + 6 * k)) % len(simple)]
            if candidate not in picks:
                picks.append(candidate)
        quantities = [1 + (self.h >> (30 + k)) % 2 for k in range(len(picks))]
        price = money(sum(p.data["preco"] * q for p, q in zip(picks, quantities, strict=True)) * 0.9)
        short = " + ".join(p.data["nome"].split(" ")[0] for p in picks)
        data = self._base(pid, f"Kit {short}", self._code("KIT", model), price, None)
        data["formato"] = "E"
        first = picks[0].data
        data["categoria"] = dict(first["categoria"])
        data["marca"] = first["marca"]
        data["tributacao"].update(
            ncm=first["tributacao"]["ncm"], cest=first["tributacao"]["cest"], codigoListaServicos="", spedTipoItem="00"
        )
        data["unidade"] = "KIT"
        data["tipoProducao"] = "P"
        data["pesoLiquido"] = round(sum(p.data["pesoLiquido"] * q for p, q in zip(picks, quantities, strict=True)), 3)
        data["pesoBruto"] = round(data["pesoLiquido"] * 1.15, 3)
        data["estrutura"] = {
            "tipoEstoque": "V",
            "lancamentoEstoque": "A",
            "componentes": [
                {"produto": {"id": p.id}, "quantidade": float(q)} for p, q in zip(picks, quantities, strict=True)
            ],
        }
        return self._rec(data)

    def service(self, pid: int, model: int) -> Rec:
        name = SERVICES[(self.h >> 2) % len(SERVICES)]
        data = self._base(pid, name, self._code("SRV", model), money(9.9 + (self.h >> 12) % 80), None)
        data["tipo"] = "S"
        data["pesoLiquido"] = data["pesoBruto"] = 0.0
        return self._rec(data)


def _combos(axes: tuple[tuple[str, tuple[str, ...]], ...], h: int, count: int) -> list[tuple[tuple[str, str], ...]]:
    """`count` distinct combinations of the axes' values, chosen from the hash."""
    all_combos: list[tuple[tuple[str, str], ...]] = [()]
    for axis, values in axes:
        start = h % len(values)
        h //= len(values)
        picked = [values[(start + k) % len(values)] for k in range(min(len(values), 4))]
        all_combos = [(*combo, (axis, value)) for combo in all_combos for value in picked]
    return all_combos[:count]


def _abbr(value: str) -> str:
    return "".join(word[0] for word in value.split()).upper() if not value.isdigit() and len(value) > 3 else value


def as_variation(rec: Rec, saldo_virtual: float) -> dict[str, Any]:
    """A variation as its parent's detail lists it: the child's detail plus `variacao` (no nested variacoes)."""
    out = {k: v for k, v in rec.data.items() if k != "variacoes"}
    out["estoque"] = {**rec.data["estoque"], "saldoVirtualTotal": saldo_virtual}
    out["variacao"] = rec.extra["variacao"]
    return out


LIST_FIELDS = ("id", "nome", "codigo", "preco", "tipo", "situacao", "formato", "descricaoCurta", "imagemURL")


def list_row(rec: Rec, saldo_virtual: float, excluded_situacao: str) -> dict[str, Any]:
    """The list form (ProdutosDadosBaseDTO): idProdutoPai only on variations, precoCusto from the supplier."""
    data = rec.data
    row: dict[str, Any] = {"id": rec.id}
    if "idProdutoPai" in rec.extra:
        row["idProdutoPai"] = rec.extra["idProdutoPai"]
    for name in LIST_FIELDS[1:]:
        row[name] = data[name]
        if name == "preco":
            row["precoCusto"] = data["fornecedor"]["precoCusto"]
            row["estoque"] = {"saldoVirtualTotal": saldo_virtual}
    if rec.excluded:
        row["situacao"] = excluded_situacao
    return row


def detail(
    rec: Rec, saldo_virtual: float, excluded_situacao: str, variations: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The detail form (ProdutosDadosDTO) with the live stock balance (and a parent's current variations)."""
    out = dict(rec.data)
    out["estoque"] = {**rec.data["estoque"], "saldoVirtualTotal": saldo_virtual}
    if variations is not None:
        out["variacoes"] = variations
    if rec.excluded:
        out["situacao"] = excluded_situacao
    return out
