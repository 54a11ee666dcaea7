"""Reference places and networks the simulator draws IP geolocation and ASN data from.

Real traffic is lumpy: most visitors sit behind a few consumer ISPs of a few countries, while bots, VPN exits and
proxies come from hosting providers. The tables below are small but internally consistent (city ↔ timezone ↔
country ↔ continent ↔ ISP), so downstream joins and "country vs timezone" checks see plausible data. Coordinates
and networks are approximate public facts; nothing here is a real person's address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

CONTINENTS = {
    "EU": "Europe",
    "NA": "North America",
    "SA": "South America",
    "AS": "Asia",
    "OC": "Oceania",
    "AF": "Africa",
}

# country code -> (name, continent code, traffic weight)
COUNTRIES: dict[str, tuple[str, str, int]] = {
    "US": ("United States", "NA", 25),
    "CA": ("Canada", "NA", 4),
    "MX": ("Mexico", "NA", 3),
    "BR": ("Brazil", "SA", 6),
    "AR": ("Argentina", "SA", 1),
    "GB": ("United Kingdom", "EU", 8),
    "IE": ("Ireland", "EU", 1),
    "DE": ("Germany", "EU", 8),
    "FR": ("France", "EU", 6),
    "NL": ("Netherlands", "EU", 3),
    "ES": ("Spain", "EU", 3),
    "IT": ("Italy", "EU", 3),
    "PL": ("Poland", "EU", 3),
    "CZ": ("Czechia", "EU", 2),
    "SE": ("Sweden", "EU", 2),
    "UA": ("Ukraine", "EU", 2),
    "TR": ("Turkey", "AS", 2),
    "IN": ("India", "AS", 7),
    "JP": ("Japan", "AS", 4),
    "KR": ("South Korea", "AS", 2),
    "SG": ("Singapore", "AS", 1),
    "ID": ("Indonesia", "AS", 2),
    "PH": ("Philippines", "AS", 1),
    "AE": ("United Arab Emirates", "AS", 1),
    "AU": ("Australia", "OC", 3),
    "NG": ("Nigeria", "AF", 1),
    "ZA": ("South Africa", "AF", 1),
    "EG": ("Egypt", "AF", 1),
}


@dataclass(frozen=True, slots=True)
class Place:
    """A city as IP geolocation reports it; `subdivisions` is ordered largest first, possibly empty."""

    country_code: str
    city: str
    timezone: str
    latitude: float
    longitude: float
    postal_codes: tuple[str, ...]
    subdivisions: tuple[tuple[str, str], ...]

    @property
    def country_name(self) -> str:
        return COUNTRIES[self.country_code][0]

    @property
    def continent_code(self) -> str:
        return COUNTRIES[self.country_code][1]

    @property
    def continent_name(self) -> str:
        return CONTINENTS[self.continent_code]


def _p(cc: str, city: str, tz: str, lat: float, lon: float, postal: str, *subs: tuple[str, str]) -> Place:
    return Place(cc, city, tz, lat, lon, tuple(postal.split("|")) if postal else (), subs)


PLACES: tuple[Place, ...] = (
    _p("US", "New York", "America/New_York", 40.7128, -74.006, "10001|10013|10025", ("NY", "New York")),
    _p("US", "Los Angeles", "America/Los_Angeles", 34.0522, -118.2437, "90012|90028", ("CA", "California")),
    _p("US", "Chicago", "America/Chicago", 41.8781, -87.6298, "60601|60614", ("IL", "Illinois")),
    _p("US", "Houston", "America/Chicago", 29.7604, -95.3698, "77002", ("TX", "Texas")),
    _p("US", "Seattle", "America/Los_Angeles", 47.6062, -122.3321, "98101", ("WA", "Washington")),
    _p("US", "Miami", "America/New_York", 25.7617, -80.1918, "", ("FL", "Florida")),
    _p("US", "Denver", "America/Denver", 39.7392, -104.9903, "80202", ("CO", "Colorado")),
    _p("US", "Ashburn", "America/New_York", 39.0438, -77.4874, "20147", ("VA", "Virginia")),
    _p("CA", "Toronto", "America/Toronto", 43.6532, -79.3832, "M5H", ("ON", "Ontario")),
    _p("CA", "Vancouver", "America/Vancouver", 49.2827, -123.1207, "V6B", ("BC", "British Columbia")),
    _p("CA", "Montreal", "America/Toronto", 45.5019, -73.5674, "", ("QC", "Quebec")),
    _p("MX", "Mexico City", "America/Mexico_City", 19.4326, -99.1332, "06000", ("CMX", "Mexico City")),
    _p("BR", "Sao Paulo", "America/Sao_Paulo", -23.5505, -46.6333, "01310-100", ("SP", "Sao Paulo")),
    _p("BR", "Rio de Janeiro", "America/Sao_Paulo", -22.9068, -43.1729, "", ("RJ", "Rio de Janeiro")),
    _p("AR", "Buenos Aires", "America/Argentina/Buenos_Aires", -34.6037, -58.3816, "C1002", ("C", "Buenos Aires F.D.")),
    _p("GB", "London", "Europe/London", 51.5072, -0.1276, "EC1A|SW1A|E14", ("ENG", "England"), ("LND", "London")),
    _p("GB", "Manchester", "Europe/London", 53.4808, -2.2426, "M1", ("ENG", "England"), ("MAN", "Manchester")),
    _p("IE", "Dublin", "Europe/Dublin", 53.3498, -6.2603, "D02", ("L", "Leinster"), ("D", "Dublin City")),
    _p("DE", "Berlin", "Europe/Berlin", 52.52, 13.405, "10112|10115", ("BE", "Land Berlin")),
    _p("DE", "Dusseldorf", "Europe/Berlin", 51.2277, 6.7735, "40213", ("NW", "North Rhine-Westphalia")),
    _p("DE", "Munich", "Europe/Berlin", 48.1351, 11.582, "80331", ("BY", "Bavaria")),
    _p("DE", "Frankfurt am Main", "Europe/Berlin", 50.1109, 8.6821, "60313", ("HE", "Hesse")),
    _p("FR", "Paris", "Europe/Paris", 48.8566, 2.3522, "75001|75011", ("IDF", "Ile-de-France"), ("75", "Paris")),
    _p("FR", "Lyon", "Europe/Paris", 45.764, 4.8357, "69002", ("ARA", "Auvergne-Rhone-Alpes"), ("69", "Rhone")),
    _p("NL", "Amsterdam", "Europe/Amsterdam", 52.3676, 4.9041, "1012", ("NH", "North Holland")),
    _p("ES", "Madrid", "Europe/Madrid", 40.4168, -3.7038, "28013", ("MD", "Madrid")),
    _p("ES", "Barcelona", "Europe/Madrid", 41.3874, 2.1686, "08001", ("CT", "Catalonia"), ("B", "Barcelona")),
    _p("IT", "Milan", "Europe/Rome", 45.4642, 9.19, "20121", ("25", "Lombardy"), ("MI", "Milan")),
    _p("IT", "Rome", "Europe/Rome", 41.9028, 12.4964, "00184", ("62", "Lazio"), ("RM", "Rome")),
    _p("PL", "Warsaw", "Europe/Warsaw", 52.2297, 21.0122, "00-001", ("14", "Mazovia")),
    _p("CZ", "Prague", "Europe/Prague", 50.05, 14.4, "150 00|110 00", ("10", "Hlavni mesto Praha")),
    _p("CZ", "Brno", "Europe/Prague", 49.1951, 16.6068, "602 00", ("64", "South Moravian")),
    _p("SE", "Stockholm", "Europe/Stockholm", 59.3293, 18.0686, "111 20", ("AB", "Stockholm County")),
    _p("UA", "Kharkiv", "Europe/Kyiv", 49.982, 36.2566, "61202", ("63", "Kharkivska Oblast")),
    _p("UA", "Kyiv", "Europe/Kyiv", 50.4501, 30.5234, "", ("30", "Kyiv City")),
    _p("TR", "Istanbul", "Europe/Istanbul", 41.0082, 28.9784, "34000", ("34", "Istanbul")),
    _p("IN", "Mumbai", "Asia/Kolkata", 19.076, 72.8777, "400001", ("MH", "Maharashtra")),
    _p("IN", "Bengaluru", "Asia/Kolkata", 12.9716, 77.5946, "560001", ("KA", "Karnataka")),
    _p("IN", "New Delhi", "Asia/Kolkata", 28.6139, 77.209, "", ("DL", "National Capital Territory of Delhi")),
    _p("JP", "Tokyo", "Asia/Tokyo", 35.6762, 139.6503, "100-0001|150-0002", ("13", "Tokyo")),
    _p("JP", "Osaka", "Asia/Tokyo", 34.6937, 135.5023, "530-0001", ("27", "Osaka")),
    _p("KR", "Seoul", "Asia/Seoul", 37.5665, 126.978, "04524", ("11", "Seoul")),
    _p("SG", "Singapore", "Asia/Singapore", 1.3521, 103.8198, "018989"),
    _p("ID", "Jakarta", "Asia/Jakarta", -6.2088, 106.8456, "", ("JK", "Jakarta")),
    _p(
        "PH",
        "Manila",
        "Asia/Manila",
        14.5995,
        120.9842,
        "1000",
        ("00", "Metro Manila"),
        ("NCR", "National Capital Region"),
        ("MNL", "City of Manila"),
    ),
    _p("AE", "Dubai", "Asia/Dubai", 25.2048, 55.2708, "", ("DU", "Dubai")),
    _p("AU", "Sydney", "Australia/Sydney", -33.8688, 151.2093, "2000", ("NSW", "New South Wales")),
    _p("AU", "Melbourne", "Australia/Melbourne", -37.8136, 144.9631, "3000", ("VIC", "Victoria")),
    _p("NG", "Lagos", "Africa/Lagos", 6.5244, 3.3792, "", ("LA", "Lagos")),
    _p("ZA", "Johannesburg", "Africa/Johannesburg", -26.2041, 28.0473, "2001", ("GP", "Gauteng")),
    _p("EG", "Cairo", "Africa/Cairo", 30.0444, 31.2357, "", ("C", "Cairo Governorate")),
)

PLACES_BY_COUNTRY: dict[str, tuple[Place, ...]] = {
    cc: tuple(p for p in PLACES if p.country_code == cc) for cc in COUNTRIES
}


@dataclass(frozen=True, slots=True)
class Network:
    """An autonomous system with one IPv4 and one IPv6 block; `datacenter` is "" for consumer networks."""

    asn: str
    name: str
    v4_cidr: str
    v6_cidr: str
    type: str
    datacenter: str
    country_code: str
    v4_base: int
    v4_size: int
    v6_base: int
    v6_size: int

    def v4_address(self, n: int) -> str:
        """The n-th address of the IPv4 block (wrapping), skipping the network address."""
        return str(ipaddress.IPv4Address(self.v4_base + 1 + n % (self.v4_size - 2)))

    def v6_address(self, n: int) -> str:
        """An address of the IPv6 block spread over its interface-identifier space."""
        return str(ipaddress.IPv6Address(self.v6_base + 1 + (n * 0x9E3779B97F4A7C15) % (self.v6_size - 1)))


def _n(asn: int, name: str, v4: str, v6: str, cc: str, kind: str = "isp", dc: str = "") -> Network:
    n4, n6 = ipaddress.IPv4Network(v4), ipaddress.IPv6Network(v6)
    return Network(
        str(asn), name, v4, v6, kind, dc, cc, int(n4.network_address), n4.num_addresses,
        int(n6.network_address), n6.num_addresses,
    )  # fmt: skip


CONSUMER_NETWORKS: tuple[Network, ...] = (
    _n(7922, "COMCAST-7922", "73.136.0.0/13", "2601::/20", "US"),
    _n(7018, "ATT-INTERNET4", "99.0.0.0/11", "2600:1700::/28", "US"),
    _n(20115, "CHARTER-20115", "24.176.0.0/13", "2600:6c00::/24", "US"),
    _n(21928, "T-MOBILE-AS21928", "172.56.0.0/14", "2607:fb90::/28", "US", "mobile"),
    _n(701, "UUNET", "71.160.0.0/12", "2600:4000::/22", "US"),
    _n(812, "ROGERS-COMMUNICATIONS", "99.224.0.0/11", "2607:fea8::/32", "CA"),
    _n(577, "BACOM", "142.112.0.0/13", "2001:56a::/32", "CA"),
    _n(8151, "Uninet S.A. de C.V.", "187.128.0.0/10", "2806:2f0::/32", "MX"),
    _n(28573, "Claro NXT Telecomunicacoes Ltda", "177.0.0.0/11", "2804:14c::/31", "BR"),
    _n(18881, "TELEFONICA BRASIL S.A", "177.32.0.0/11", "2804:7f0::/32", "BR", "mobile"),
    _n(7303, "Telecom Argentina S.A.", "181.0.0.0/12", "2800:810::/32", "AR"),
    _n(2856, "BT-UK-AS", "86.128.0.0/10", "2a00:23c0::/27", "GB"),
    _n(5089, "NTL", "82.0.0.0/14", "2a02:c7f::/32", "GB"),
    _n(5607, "BSKYB-BROADBAND-AS", "90.192.0.0/11", "2a02:c78::/29", "GB"),
    _n(5466, "EIRCOM Internet House", "86.40.0.0/13", "2001:bb6::/32", "IE"),
    _n(3320, "Deutsche Telekom AG", "79.192.0.0/10", "2003::/19", "DE"),
    _n(6805, "Telefonica Germany", "78.48.0.0/13", "2a02:3100::/24", "DE", "mobile"),
    _n(3209, "Vodafone GmbH", "88.64.0.0/12", "2a02:8100::/27", "DE"),
    _n(3215, "Orange S.A.", "90.0.0.0/9", "2a01:cb00::/24", "FR"),
    _n(12322, "Free SAS", "82.64.0.0/10", "2a01:e00::/26", "FR"),
    _n(1136, "KPN B.V.", "77.160.0.0/12", "2a02:a40::/29", "NL"),
    _n(33915, "Vodafone Libertel B.V.", "84.24.0.0/13", "2001:1c00::/23", "NL"),
    _n(3352, "TELEFONICA_DE_ESPANA", "83.32.0.0/11", "2a0c:5a80::/29", "ES"),
    _n(3269, "Telecom Italia", "79.0.0.0/10", "2a01:2000::/20", "IT"),
    _n(5617, "Orange Polska Spolka Akcyjna", "83.0.0.0/11", "2a01:110f::/32", "PL"),
    _n(5610, "O2 Czech Republic, a.s.", "88.100.0.0/14", "2a00:1028::/32", "CZ"),
    _n(16019, "Vodafone Czech Republic a.s.", "46.135.0.0/16", "2a00:11c0::/29", "CZ", "mobile"),
    _n(3301, "Telia Company AB", "78.64.0.0/12", "2001:2002::/31", "SE"),
    _n(15895, "Kyivstar PJSC", "46.211.0.0/16", "2a02:2378::/32", "UA", "mobile"),
    _n(9121, "Turk Telekom", "78.160.0.0/11", "2a02:e0::/29", "TR"),
    _n(55836, "Reliance Jio Infocomm Limited", "49.32.0.0/11", "2405:200::/29", "IN", "mobile"),
    _n(24560, "Bharti Airtel Ltd.", "122.160.0.0/12", "2401:4900::/30", "IN"),
    _n(2516, "KDDI CORPORATION", "106.128.0.0/10", "2001:268::/32", "JP"),
    _n(4713, "NTT Communications Corporation", "153.128.0.0/9", "240b:10::/28", "JP"),
    _n(4766, "Korea Telecom", "211.32.0.0/11", "2001:e60::/28", "KR"),
    _n(9506, "Singtel Fibre Broadband", "220.255.0.0/16", "2406:3003::/32", "SG"),
    _n(7713, "PT Telekomunikasi Indonesia", "36.64.0.0/11", "2001:448a::/32", "ID"),
    _n(9299, "Philippine Long Distance Telephone Company", "112.198.0.0/15", "2001:4450::/32", "PH"),
    _n(5384, "Emirates Telecommunications Group", "94.200.0.0/13", "2001:8f8::/29", "AE"),
    _n(1221, "Telstra Limited", "101.160.0.0/11", "2001:8003::/32", "AU"),
    _n(4804, "Optus", "49.176.0.0/12", "2401:d000::/28", "AU"),
    _n(29465, "MTN NIGERIA Communication limited", "105.112.0.0/12", "2c0f:f5c0::/29", "NG", "mobile"),
    _n(5713, "Telkom SA Ltd.", "41.0.0.0/11", "2c0f:ef00::/32", "ZA"),
    _n(8452, "TE Data", "41.32.0.0/12", "2c0f:fc88::/32", "EG"),
    _n(64512, "University Network Consortium", "128.32.0.0/16", "2607:f140::/32", "US", "education"),
    _n(20940, "Akamai International B.V.", "23.32.0.0/11", "2a02:26f0::/29", "NL", "business"),
)

HOSTING_NETWORKS: tuple[Network, ...] = (
    _n(16509, "AMAZON-02", "3.0.0.0/9", "2600:1f00::/24", "US", "hosting", "Amazon AWS"),
    _n(16509, "AMAZON-02", "18.184.0.0/15", "2a05:d014::/36", "DE", "hosting", "Amazon AWS"),
    _n(14061, "DIGITALOCEAN-ASN", "159.203.0.0/16", "2604:a880::/32", "US", "hosting", "DigitalOcean"),
    _n(16276, "OVH SAS", "51.68.0.0/16", "2001:41d0::/32", "FR", "hosting", "OVH"),
    _n(24940, "Hetzner Online GmbH", "88.198.0.0/16", "2a01:4f8::/29", "DE", "hosting", "Hetzner"),
    _n(15169, "GOOGLE", "34.64.0.0/10", "2600:1900::/28", "US", "hosting", "Google Cloud"),
    _n(8075, "MICROSOFT-CORP-MSN-AS-BLOCK", "40.76.0.0/14", "2603:1030::/28", "US", "hosting", "Microsoft Azure"),
    _n(63949, "Akamai Connected Cloud", "172.104.0.0/15", "2600:3c00::/27", "SG", "hosting", "Linode"),
    _n(20473, "AS-CHOOPA", "45.32.0.0/16", "2001:19f0::/32", "JP", "hosting", "Vultr"),
    _n(35913, "DediPath", "45.136.0.0/16", "2606:9580::/32", "US", "hosting", "DediPath"),
    _n(9009, "M247 Europe SRL", "185.156.172.0/22", "2a0d:5600::/29", "GB", "hosting", "M247"),
    _n(212238, "Datacamp Limited", "89.187.160.0/19", "2a02:6ea0::/29", "NL", "hosting", "Datacamp"),
)

# Crawlers announce themselves from their owners' networks: a good bot's IP must match its claimed identity.
CRAWLER_NETWORKS: dict[str, Network] = {
    "googleBot": _n(15169, "GOOGLE", "66.249.64.0/19", "2001:4860::/32", "US", "hosting", "Google"),
    "bingBot": _n(8075, "MICROSOFT-CORP-MSN-AS-BLOCK", "157.55.0.0/16", "2a01:111::/32", "US", "hosting", "Microsoft"),
    "appleBot": _n(714, "APPLE-ENGINEERING", "17.0.0.0/8", "2a01:b740::/32", "US", "business", "Apple"),
}

NETWORKS_BY_COUNTRY: dict[str, tuple[Network, ...]] = {
    cc: tuple(n for n in CONSUMER_NETWORKS if n.country_code == cc) for cc in COUNTRIES
}

ACCURACY_RADII = (1, 5, 10, 20, 50, 100, 200, 500, 1000)
