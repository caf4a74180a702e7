"""An agency's account: many sellers, each with a grant for the same app, minted at once.

Integrators connect every client's shop with the same app, one seller after another. To simulate
that at scale (benchmarks, tests), :func:`mint_grants` creates ``n`` distinct sellers, one LOCAL
shop each, in the markets TikTok Shop operates in (:data:`AGENCY_REGIONS`, in turn), and one
seller authorization (user_type 0) of the app for each, in ONE transaction: as if each seller had
authorized and the code had been exchanged. The sellers are stored in the state database, so
every sandbox on the same file knows them: their tokens refresh, Get Authorized Shops lists their
shop, API2Cart accepts them, and the consent page's decision form accepts their keys (the page
itself offers only the sample sellers).

Minted seller number ``k`` (counting every seller minted on the database, from 1) has the key
``agency-<k>``, the name ``Agency Client <k>``, the open_id ``7020000000000000000 + 10 k``, and a
shop with the id ``7495000000000000000 + k``.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from .model import App, SampleShop, Seller
from .store import StateStore
from .tiktok import SimulatedTikTok

__all__ = ["AGENCY_REGIONS", "MAX_MINT", "MintedGrant", "agency_seller", "mint_grants"]

#: The markets TikTok Shop operates in; minted sellers are spread over them in this order.
AGENCY_REGIONS: Final = ("GB", "US", "SG", "MY", "TH", "VN", "PH", "ID", "ES", "IE", "DE", "FR", "IT", "MX", "BR", "JP")
#: The most sellers one call mints (a guard against a typo, not a limit of the database).
MAX_MINT: Final = 1_000_000
_OPEN_ID_BASE: Final = 7_020_000_000_000_000_000
_SHOP_ID_BASE: Final = 7_495_000_000_000_000_000


class MintedGrant(NamedTuple):
    """One minted seller's authorization: what an integrator keeps after connecting the seller."""

    refresh_token: str
    open_id: str
    seller_name: str


def agency_seller(number: int) -> Seller:
    """Minted seller number ``number`` (from 1), with its one shop."""
    region = AGENCY_REGIONS[(number - 1) % len(AGENCY_REGIONS)]
    name = f"Agency Client {number}"
    cipher_prefix = "TTP" if region == "US" else "ROW"  # US shops' ciphers start like US tokens
    shop = SampleShop(
        id=str(_SHOP_ID_BASE + number),
        name=name,
        region=region,
        seller_type="LOCAL",
        cipher=f"{cipher_prefix}_agy{region}cipher{number:016d}",
        code=f"{region}LCAGY{number}",
    )
    return Seller(
        key=f"agency-{number}",
        name=name,
        base_region=region,
        open_id=str(_OPEN_ID_BASE + 10 * number),
        shops=(shop,),
    )


def mint_grants(store: StateStore, tiktok: SimulatedTikTok, app: App, n: int, now: float) -> list[MintedGrant]:
    """Create ``n`` new sellers and one grant of ``app`` each, at ``now``, in one transaction."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_MINT:
        raise ValueError(f"n must be a whole number from 0 to {MAX_MINT}")
    with store.mutation():
        first = store.minted_seller_count() + 1
        sellers = [agency_seller(number) for number in range(first, first + n)]
        grants = [tiktok.new_grant(app, seller, 0, now) for seller in sellers]
        store.add_minted(sellers, grants)
    return [MintedGrant(g.refresh_token, g.open_id, s.name) for s, g in zip(sellers, grants, strict=True)]
