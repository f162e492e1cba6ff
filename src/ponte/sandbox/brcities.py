"""Real Brazilian cities (IBGE codes, UF, DDD, approximate CEP ranges) for generated addresses.

IBGE municipality codes start with the state's IBGE code, so data built from this table stays consistent
(`/cities`, customer addresses, creditor addresses all agree). CEP ranges are the 5-digit prefixes of each
city's range, approximated: good enough to look real, not a postal reference.
"""

from __future__ import annotations

from typing import NamedTuple


class City(NamedTuple):
    """A municipality as the sandboxes need it."""

    ibge: int
    name: str
    uf: str
    ddd: str
    cep_low: int
    cep_high: int

    @property
    def state_code(self) -> int:
        """IBGE state code: the first two digits of the municipality code."""
        return self.ibge // 100000

    @property
    def state_name(self) -> str:
        """Full state name, e.g. 'Santa Catarina'."""
        return STATES[self.uf][1]


STATES: dict[str, tuple[int, str]] = {
    "RO": (11, "Rondônia"), "AC": (12, "Acre"), "AM": (13, "Amazonas"), "RR": (14, "Roraima"),
    "PA": (15, "Pará"), "AP": (16, "Amapá"), "TO": (17, "Tocantins"), "MA": (21, "Maranhão"),
    "PI": (22, "Piauí"), "CE": (23, "Ceará"), "RN": (24, "Rio Grande do Norte"), "PB": (25, "Paraíba"),
    "PE": (26, "Pernambuco"), "AL": (27, "Alagoas"), "SE": (28, "Sergipe"), "BA": (29, "Bahia"),
    "MG": (31, "Minas Gerais"), "ES": (32, "Espírito Santo"), "RJ": (33, "Rio de Janeiro"), "SP": (35, "São Paulo"),
    "PR": (41, "Paraná"), "SC": (42, "Santa Catarina"), "RS": (43, "Rio Grande do Sul"),
    "MS": (50, "Mato Grosso do Sul"), "MT": (51, "Mato Grosso"), "GO": (52, "Goiás"), "DF": (53, "Distrito Federal"),
}  # fmt: skip

CITIES: tuple[City, ...] = (
    City(3550308, "São Paulo", "SP", "11", 1000, 5999),
    City(3304557, "Rio de Janeiro", "RJ", "21", 20000, 23799),
    City(3106200, "Belo Horizonte", "MG", "31", 30000, 31999),
    City(5300108, "Brasília", "DF", "61", 70000, 72799),
    City(4205407, "Florianópolis", "SC", "48", 88000, 88099),
    City(4106902, "Curitiba", "PR", "41", 80000, 82999),
    City(4314902, "Porto Alegre", "RS", "51", 90000, 91999),
    City(2927408, "Salvador", "BA", "71", 40000, 42499),
    City(2304400, "Fortaleza", "CE", "85", 60000, 61599),
    City(2611606, "Recife", "PE", "81", 50000, 52999),
    City(5208707, "Goiânia", "GO", "62", 74000, 74899),
    City(3509502, "Campinas", "SP", "19", 13000, 13139),
    City(4209102, "Joinville", "SC", "47", 89200, 89239),
    City(4202404, "Blumenau", "SC", "47", 89000, 89099),
    City(4216602, "São José", "SC", "48", 88100, 88124),
    City(4211900, "Palhoça", "SC", "48", 88130, 88139),
    City(4202008, "Balneário Camboriú", "SC", "47", 88330, 88339),
    City(4208203, "Itajaí", "SC", "47", 88300, 88319),
    City(4204202, "Chapecó", "SC", "49", 89800, 89816),
    City(4204608, "Criciúma", "SC", "48", 88800, 88819),
    City(1302603, "Manaus", "AM", "92", 69000, 69099),
    City(1501402, "Belém", "PA", "91", 66000, 66999),
    City(3518800, "Guarulhos", "SP", "11", 7000, 7399),
    City(2111300, "São Luís", "MA", "98", 65000, 65109),
    City(3304904, "São Gonçalo", "RJ", "21", 24400, 24799),
    City(2704302, "Maceió", "AL", "82", 57000, 57099),
    City(3301702, "Duque de Caxias", "RJ", "21", 25000, 25299),
    City(2408102, "Natal", "RN", "84", 59000, 59159),
    City(2211001, "Teresina", "PI", "86", 64000, 64099),
    City(5002704, "Campo Grande", "MS", "67", 79000, 79129),
    City(3548708, "São Bernardo do Campo", "SP", "11", 9600, 9899),
    City(2507507, "João Pessoa", "PB", "83", 58000, 58099),
    City(3303500, "Nova Iguaçu", "RJ", "21", 26000, 26099),
    City(3547809, "Santo André", "SP", "11", 9000, 9299),
    City(3534401, "Osasco", "SP", "11", 6000, 6299),
    City(2607901, "Jaboatão dos Guararapes", "PE", "81", 54000, 54499),
    City(3549904, "São José dos Campos", "SP", "12", 12200, 12249),
    City(3543402, "Ribeirão Preto", "SP", "16", 14000, 14114),
    City(3170206, "Uberlândia", "MG", "34", 38400, 38414),
    City(3552205, "Sorocaba", "SP", "15", 18000, 18109),
    City(3118601, "Contagem", "MG", "31", 32000, 32399),
    City(2800308, "Aracaju", "SE", "79", 49000, 49099),
    City(2910800, "Feira de Santana", "BA", "75", 44000, 44099),
    City(5103403, "Cuiabá", "MT", "65", 78000, 78099),
    City(3136702, "Juiz de Fora", "MG", "32", 36000, 36099),
    City(4113700, "Londrina", "PR", "43", 86000, 86099),
    City(5201405, "Aparecida de Goiânia", "GO", "62", 74900, 74999),
    City(3303302, "Niterói", "RJ", "21", 24000, 24399),
    City(1100205, "Porto Velho", "RO", "69", 76800, 76834),
    City(3205002, "Serra", "ES", "27", 29160, 29184),
    City(3205200, "Vila Velha", "ES", "27", 29100, 29129),
    City(3205309, "Vitória", "ES", "27", 29000, 29099),
    City(4305108, "Caxias do Sul", "RS", "54", 95000, 95124),
    City(1600303, "Macapá", "AP", "96", 68900, 68914),
    City(3548500, "Santos", "SP", "13", 11000, 11099),
    City(4115200, "Maringá", "PR", "44", 87000, 87119),
    City(1200401, "Rio Branco", "AC", "68", 69900, 69924),
    City(1400100, "Boa Vista", "RR", "95", 69300, 69339),
    City(1721000, "Palmas", "TO", "63", 77000, 77274),
    City(4314407, "Pelotas", "RS", "53", 96000, 96099),
    City(4304606, "Canoas", "RS", "51", 92000, 92479),
    City(2504009, "Campina Grande", "PB", "83", 58400, 58443),
    City(2611101, "Petrolina", "PE", "87", 56300, 56339),
    City(2408003, "Mossoró", "RN", "84", 59600, 59649),
    City(5201108, "Anápolis", "GO", "62", 75000, 75149),
    City(3143302, "Montes Claros", "MG", "38", 39400, 39409),
    City(3538709, "Piracicaba", "SP", "19", 13400, 13439),
    City(3525904, "Jundiaí", "SP", "11", 13200, 13219),
    City(3506003, "Bauru", "SP", "14", 17000, 17099),
    City(4104808, "Cascavel", "PR", "45", 85800, 85824),
    City(4119905, "Ponta Grossa", "PR", "42", 84000, 84099),
    City(4108304, "Foz do Iguaçu", "PR", "45", 85850, 85874),
    City(3306305, "Volta Redonda", "RJ", "24", 27200, 27299),
    City(3303906, "Petrópolis", "RJ", "24", 25600, 25779),
)
