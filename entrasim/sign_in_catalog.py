"""Reference data the sign-in generator draws from: Microsoft first-party applications and
resources (their real, well-known app ids), Entra's sign-in error codes with the failure
reasons Graph reports, device and client vocabulary, locations and conditional-access policies.

Kept apart from the generator, as `catalog` is for the directory, so the realism lives in
tables and the generator's code stays about proportions.
"""

from __future__ import annotations

from typing import NamedTuple


class Resource(NamedTuple):
    id: str
    name: str


class App(NamedTuple):
    id: str
    name: str
    resource: Resource
    weight: float
    native: bool  # a desktop/mobile client (non-interactive refreshes come from these)


class Status(NamedTuple):
    code: int
    reason: str | None
    details: str | None


class Location(NamedTuple):
    city: str | None
    state: str | None
    country: str | None
    latitude: float | None
    longitude: float | None
    ip_prefix: str  # addresses in this location are drawn under this prefix


class Policy(NamedTuple):
    id: str
    name: str
    grant: tuple[str, ...]


GRAPH = Resource("00000003-0000-0000-c000-000000000000", "Microsoft Graph")
EXCHANGE = Resource("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online")
SHAREPOINT = Resource("00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online")
AZURE_MANAGEMENT = Resource("797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API")
TEAMS_SERVICES = Resource("cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "Microsoft Teams Services")
KEY_VAULT = Resource("cfa8b339-82a2-471a-a3c9-0fc0be7a4093", "Azure Key Vault")
STORAGE = Resource("e406a681-f3d4-42a8-90b6-c2b029497af1", "Azure Storage")
WINDOWS_SIGN_IN = Resource("00000002-0000-0000-c000-000000000000", "Windows Azure Active Directory")

USER_APPS: tuple[App, ...] = (
    App("4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome", SHAREPOINT, 14, False),
    App("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams", TEAMS_SERVICES, 22, True),
    App("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online", EXCHANGE, 12, False),
    App("d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office", GRAPH, 12, True),
    App("27922004-5251-4030-b22d-91ecd9a37ea4", "Outlook Mobile", EXCHANGE, 8, True),
    App("ab9b8c07-8f02-4f72-87fa-80105867a763", "OneDrive SyncEngine", SHAREPOINT, 7, True),
    App("29d9ed98-a469-4536-ade2-f981bc1d605e", "Microsoft Authentication Broker", WINDOWS_SIGN_IN, 6, True),
    App("2793995e-0a7d-40d7-bd35-6968ba142197", "My Apps", GRAPH, 4, False),
    App("c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal", AZURE_MANAGEMENT, 3, False),
    App("de8bc8b5-d9f9-48b1-a8ad-b748da725064", "Graph Explorer", GRAPH, 1, False),
    App("0f698dd4-f011-4d23-a33e-b36416dcb1e6", "Microsoft Outlook", EXCHANGE, 6, True),
    App("00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online", SHAREPOINT, 5, False),
)
NATIVE_APPS: tuple[App, ...] = tuple(a for a in USER_APPS if a.native)

SUCCESS = Status(0, None, None)
SUCCESS_MFA_CLAIM = Status(0, None, "MFA requirement satisfied by claim in the token")
SUCCESS_MFA_DONE = Status(0, None, "MFA completed in Azure AD")
# (weight, status) of interactive failures, the mix a mid-size tenant shows.
FAILURES: tuple[tuple[float, Status], ...] = (
    (40, Status(50126, "Error validating credentials due to invalid username or password.",
                "The user didn't enter the right credentials. It's expected to see some number of these errors in your logs due to users making mistakes.")),
    (15, Status(50074, "Strong Authentication is required.",
                "The user is required to complete a second factor of authentication.")),
    (10, Status(50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
                "MFA required in Azure AD")),
    (12, Status(53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
                "A Conditional Access policy blocked this sign-in.")),
    (5, Status(50053, "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
               None)),
    (3, Status(50055, "Invalid password, entered expired password.", "The user's password has expired.")),
    (8, Status(500121, "Authentication failed during strong authentication request.",
               "The user didn't complete the MFA prompt.")),
    (7, Status(50140, "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.",
               "This is an expected part of the sign-in flow, where a user is asked if they want to remain signed in.")),
)
DISABLED = Status(50057, "User account is disabled. The account has been disabled by an administrator.", None)
BLOCKED_LEGACY = Status(53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
                        "Legacy authentication is blocked by a Conditional Access policy.")
NON_INTERACTIVE_FAILURES: tuple[tuple[float, Status], ...] = (
    (60, Status(70044, "The session has expired or is invalid due to sign-in frequency checks by conditional access.", None)),
    (40, Status(50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.", None)),
)
INVALID_CLIENT_SECRET = Status(7000215, "Invalid client secret is provided.", None)
STATUS_BY_CODE: dict[int, Status] = {
    s.code: s for s in (SUCCESS, DISABLED, INVALID_CLIENT_SECRET,
                        *(s for _, s in FAILURES), *(s for _, s in NON_INTERACTIVE_FAILURES))
}

# (operatingSystem, browser, managed device name prefix, trustType when joined)
DESKTOPS: tuple[tuple[str, str, str, str], ...] = (
    ("Windows10", "Edge 131.0.0", "DESKTOP-", "Azure AD joined"),
    ("Windows 10", "Chrome 131.0.0", "LAPTOP-", "Hybrid Azure AD joined"),
    ("Windows", "Edge 132.0.0", "CONTOSO-", "Azure AD joined"),
    ("MacOs", "Safari 18.1", "MBP-", "Azure AD registered"),
)
MOBILES: tuple[tuple[str, str], ...] = (
    ("Ios", "Mobile Safari"), ("Android", "Chrome Mobile 131.0.0"), ("Ios", "Rich Client 4.61.0.0"),
)
UNMANAGED: tuple[tuple[str, str], ...] = (
    ("Windows10", "Chrome 130.0.0"), ("Windows10", "Firefox 132.0"), ("MacOs", "Chrome 131.0.0"),
    ("Linux", "Firefox 131.0"), ("Ios", "Mobile Safari"), ("Android", "Samsung Internet 26.0"),
)
RICH_CLIENT = "Rich Client 16.0.18129.20116"

MODERN_CLIENTS = ("Browser", "Mobile Apps and Desktop clients")
LEGACY_CLIENTS = ("Exchange ActiveSync", "IMAP4", "Authenticated SMTP", "Other clients")

HOME_LOCATIONS: tuple[Location, ...] = (
    Location("Redmond", "Washington", "US", 47.6740, -122.1215, "131.107."),
    Location("Seattle", "Washington", "US", 47.6062, -122.3321, "20.112."),
    Location("London", "England", "GB", 51.5072, -0.1276, "51.140."),
    Location("Paris", "Paris", "FR", 48.8566, 2.3522, "90.84."),
    Location("München", "Bayern", "DE", 48.1372, 11.5756, "84.150."),
    Location("Zürich", "Zurich", "CH", 47.3769, 8.5417, "178.197."),
    Location("São Paulo", "São Paulo", "BR", -23.5558, -46.6396, "177.71."),
    Location("Tokyo", "Tokyo", "JP", 35.6764, 139.6500, "126.227."),
    Location("Kraków", "Malopolskie", "PL", 50.0647, 19.9450, "83.24."),
    Location("Montréal", "Quebec", "CA", 45.5019, -73.5674, "142.117."),
)
TRAVEL_LOCATIONS: tuple[Location, ...] = (
    Location("Amsterdam", "Noord-Holland", "NL", 52.3676, 4.9041, "145.131."),
    Location("New York", "New York", "US", 40.7128, -74.0060, "72.229."),
    Location("Singapore", "Singapore", "SG", 1.3521, 103.8198, "116.86."),
    Location("Lagos", "Lagos", "NG", 6.5244, 3.3792, "102.89."),
    Location("Moskva", "Moskva", "RU", 55.7558, 37.6173, "95.165."),
)
DATACENTRE = Location("Dublin", "Dublin", "IE", 53.3498, -6.2603, "20.38.")
UNKNOWN_LOCATION = Location(None, None, None, None, None, "2a01:111:f400:")

POLICIES: tuple[Policy, ...] = (
    Policy("3d2f5c29-0d3b-4f70-9a4e-0c2d8f0b5a11", "Require MFA for all users", ("Mfa",)),
    Policy("6a1c7e44-92b1-4c0e-8f3c-1e8b7a2d9c22", "Block legacy authentication", ("Block",)),
    Policy("9b4e2a77-5c3d-4e1f-b2a6-7d9c0e4f1b33", "Require compliant device for Azure management", ("RequireCompliantDevice",)),
    Policy("c7f1d9a3-2e6b-4a8c-9d0f-3b5e7a1c4d44", "Sign-in risk: require MFA (Medium+)", ("Mfa",)),
    Policy("e2a8b6c4-7f1d-4b3e-a5c9-4d6f8b0a2e55", "Pilot: terms of use for guests", ("termsOfUse",)),
)
# Home networks with IPv6 (a share of users sign in from these instead of their city's IPv4).
IPV6_PREFIXES: tuple[str, ...] = ("2a01:cb00:", "2001:4860:", "2600:1700:", "2a02:8109:")

# (riskLevel, riskEventTypes_v2) for risky interactive sign-ins.
RISKS: tuple[tuple[float, str, tuple[str, ...]], ...] = (
    (55, "low", ("unfamiliarFeatures",)),
    (25, "medium", ("anonymizedIPAddress",)),
    (12, "medium", ("unlikelyTravel",)),
    (8, "high", ("maliciousIPAddress", "unfamiliarFeatures")),
)

MANAGED_IDENTITIES: tuple[tuple[str, Resource], ...] = (
    ("vm-build-agent-01", KEY_VAULT), ("func-hr-sync", STORAGE), ("aks-payments-prod", KEY_VAULT),
)
