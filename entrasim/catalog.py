"""Reference data the generator draws from: names, organisation vocabulary, Entra's built-in
role definitions (real template ids) and the authentication-method vocabulary of Graph.

Kept apart from the generator so the realism lives in one table and the generator's code stays
about proportions and relationships.
"""

from __future__ import annotations

from dataclasses import dataclass

# (display form, ASCII form used in UPNs and mail addresses)
GIVEN_NAMES: tuple[tuple[str, str], ...] = tuple(
    (n, n)
    for n in ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Paul", "Ashley", "Steven", "Emily", "Andrew", "Donna", "Kenneth", "Michelle", "Joshua", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason", "Sharon", "Edward", "Laura", "Jeffrey", "Cynthia", "Ryan", "Amy", "Jacob", "Kathleen", "Gary", "Angela", "Nicholas", "Priya", "Wei", "Yuki", "Omar", "Fatima", "Lars", "Ingrid", "Pierre", "Amelie", "Marco", "Giulia", "Hans", "Anke", "Pedro", "Lucia"]
)
UNICODE_GIVEN_NAMES: tuple[tuple[str, str], ...] = (
    ("José", "jose"), ("Zoë", "zoe"), ("Łukasz", "lukasz"), ("Søren", "soren"),
    ("Ólafur", "olafur"), ("François", "francois"), ("Jürgen", "jurgen"), ("Ñuria", "nuria"),
    ("Ştefan", "stefan"), ("Ingrīda", "ingrida"), ("Renée", "renee"), ("Çağla", "cagla"),
    ("Юлия", "yulia"), ("Дмитрий", "dmitry"), ("太郎", "taro"), ("美咲", "misaki"),
    ("伟", "wei"), ("Αλέξανδρος", "alexandros"), ("محمد", "mohammed"), ("अनन्या", "ananya"),
)
SURNAMES: tuple[tuple[str, str], ...] = tuple(
    (n, n)
    for n in ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Patel", "Chen", "Kim", "Singh", "Tanaka", "Schmidt", "Rossi", "Dubois", "Jansen", "Novak", "Larsen", "Silva"]
)
UNICODE_SURNAMES: tuple[tuple[str, str], ...] = (
    ("Müller", "mueller"), ("Dvořák", "dvorak"), ("Ólafsdóttir", "olafsdottir"),
    ("Nuñez", "nunez"), ("Kowalczyk-Wójcik", "kowalczyk-wojcik"), ("Sørensen", "sorensen"),
    ("Błaszczykowski", "blaszczykowski"), ("Çelik", "celik"), ("Иванова", "ivanova"),
    ("Петров", "petrov"), ("山田", "yamada"), ("佐藤", "sato"), ("王", "wang"),
    ("Παπαδόπουλος", "papadopoulos"), ("Al-Hashimi", "al-hashimi"), ("Đặng", "dang"),
    ("O'Brien", "obrien"), ("van der Berg", "vanderberg"), ("Ŝimunović", "simunovic"),
    ("Nakamura 中村", "nakamura"),
)
GUEST_DOMAINS: tuple[str, ...] = (
    "fabrikam.com", "gmail.com", "outlook.com", "adatum.com", "northwindtraders.com",
    "tailspintoys.com", "wingtiptoys.com", "proton.me",
)
DEPARTMENTS: tuple[str, ...] = (
    "Sales", "Marketing", "Engineering", "Finance", "Human Resources", "Legal", "IT",
    "Operations", "Customer Success", "Research & Development", "Procurement", "Sécurité",
)
JOB_TITLES: tuple[str, ...] = (
    "Account Executive", "Software Engineer", "Senior Software Engineer", "Accountant",
    "HR Business Partner", "Counsel", "Systems Administrator", "Operations Manager",
    "Support Specialist", "Data Scientist", "Buyer", "Director", "Vice President", "Intern",
    "Product Manager", "Security Analyst",
)
OFFICES: tuple[str, ...] = (
    "Seattle 1/1201", "Redmond B40", "London Paddington", "Paris La Défense", "München Nord",
    "Tokyo Shinagawa", "São Paulo", "Remote",
)
COMPANIES: tuple[str, ...] = ("Contoso Ltd", "Contoso Retail", "Contoso Ventures")
EMPLOYEE_TYPES: tuple[str, ...] = ("Employee", "Contractor", "Consultant", "Vendor")
DEVICES: tuple[str, ...] = (
    "iPhone 15", "iPhone 13 mini", "Pixel 8", "SM-S918B", "moto g(60)", "iPad Pro",
)


@dataclass(frozen=True, slots=True)
class RoleDefinition:
    template_id: str
    display_name: str
    description: str
    is_privileged: bool
    assignable: bool = True


ROLE_DEFINITIONS: tuple[RoleDefinition, ...] = (
    RoleDefinition("62e90394-69f5-4237-9190-012177145e10", "Global Administrator",
                   "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.", True),
    RoleDefinition("e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator",
                   "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.", True),
    RoleDefinition("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator",
                   "Can manage all aspects of users and groups, including resetting passwords for limited admins.", True),
    RoleDefinition("729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator",
                   "Can reset passwords for non-administrators and Helpdesk Administrators.", True),
    RoleDefinition("194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator",
                   "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365.", True),
    RoleDefinition("5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader",
                   "Can read security information and reports in Microsoft Entra ID and Office 365.", True),
    RoleDefinition("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader",
                   "Can read everything that a Global Administrator can, but not update anything.", True),
    RoleDefinition("29232cdf-9323-42fd-ade2-1d097af3e4de", "Exchange Administrator",
                   "Can manage all aspects of the Exchange product.", False),
    RoleDefinition("f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "SharePoint Administrator",
                   "Can manage all aspects of the SharePoint service.", False),
    RoleDefinition("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator",
                   "Can create and manage all aspects of app registrations and enterprise apps.", True),
    RoleDefinition("158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator",
                   "Can create and manage all aspects of app registrations and enterprise apps except App Proxy.", True),
    RoleDefinition("c4e39bd9-1100-46d3-8c65-fb160da0071f", "Authentication Administrator",
                   "Can access to view, set and reset authentication method information for any non-admin user.", True),
    RoleDefinition("b0f54661-2d74-4c50-afa3-1ec803f12efe", "Billing Administrator",
                   "Can perform common billing related tasks like updating payment information.", False),
    RoleDefinition("b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "Conditional Access Administrator",
                   "Can manage Conditional Access capabilities.", True),
    RoleDefinition("3a2c62db-5318-420d-8d74-23affee5d9d5", "Intune Administrator",
                   "Can manage all aspects of the Intune product.", True),
    RoleDefinition("88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers",
                   "Can read basic directory information. Commonly used to grant directory read access to applications and guests.", False),
    RoleDefinition("a0b1b346-4d3e-4e8b-98f8-753987be4970", "User",
                   "Default role for member users. Includes all read permissions and a limited set of write permissions.", False, assignable=False),
    RoleDefinition("10dae51f-b6af-4016-8d66-8c2a99b929b3", "Guest User",
                   "Default role for guest users. Can read a limited set of directory information.", False, assignable=False),
    RoleDefinition("2af84b1e-32c8-42b7-82bc-daa82404023b", "Restricted Guest User",
                   "Restricted role for guest users. Can read a limited set of directory information.", False, assignable=False),
)
ROLES_BY_NAME: dict[str, RoleDefinition] = {r.display_name: r for r in ROLE_DEFINITIONS}
ROLES_BY_ID: dict[str, RoleDefinition] = {r.template_id: r for r in ROLE_DEFINITIONS}

# Authentication methods, by their `methodsRegistered` name in the registration report.
METHOD_NAMES: tuple[str, ...] = (
    "microsoftAuthenticatorPush",
    "microsoftAuthenticatorPasswordless",
    "fido2SecurityKey",
    "passKeyDeviceBound",
    "passKeyDeviceBoundAuthenticator",
    "windowsHelloForBusiness",
    "softwareOneTimePasscode",
    "hardwareOneTimePasscode",
    "mobilePhone",
    "alternateMobilePhone",
    "officePhone",
    "email",
    "temporaryAccessPass",
)
METHOD_BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(METHOD_NAMES)}
STRONG_METHODS: frozenset[str] = frozenset(METHOD_NAMES[:11])
PASSWORDLESS_METHODS: frozenset[str] = frozenset(
    {"microsoftAuthenticatorPasswordless", "fido2SecurityKey", "passKeyDeviceBound",
     "passKeyDeviceBoundAuthenticator", "windowsHelloForBusiness"}
)
STRONG_MASK = sum(METHOD_BIT[m] for m in STRONG_METHODS)

# Fixed method ids Graph uses for the password, phone and email methods.
PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490"
PHONE_METHOD_IDS = {
    "mobilePhone": ("3179e48a-750b-4051-897c-87b9720928f7", "mobile"),
    "alternateMobilePhone": ("b6332ec1-7057-4abe-9331-3d72feddfe41", "alternateMobile"),
    "officePhone": ("e37fc753-ff3b-4958-9484-eaa9425c82bc", "office"),
}
EMAIL_METHOD_ID = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"
AUTHENTICATOR_PASSKEY_AAGUIDS = (
    ("90a3ccdf-635c-4729-a248-9b709135078f", "Microsoft Authenticator - iOS"),
    ("de1e552d-db1d-4423-a619-566b625cdc84", "Microsoft Authenticator - Android"),
)
SECURITY_KEYS = (
    ("cb69481e-8ff7-4039-93ec-0a2729a154a8", "YubiKey 5 Series"),
    ("ee882879-721c-4913-9775-3dfcce97072a", "YubiKey 5 NFC"),
    ("2fc0579f-8113-47ea-b116-bb5a8db9202a", "YubiKey 5 NFC"),
    ("a4e9fc6d-4cbe-4758-b8ba-37598bb5bbaa", "Security Key NFC by Yubico"),
)
PASSKEY_PLATFORM = (
    ("adce0002-35bc-c60a-648b-0b25f1f05503", "Chrome on Mac"),
    ("08987058-cadc-4b81-b6e1-30de50dcbe96", "Windows Hello"),
)

# Weighted profiles of registered methods; weights are percentages of enabled members.
MFA_PROFILES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (16, ()),  # password only
    (22, ("microsoftAuthenticatorPush", "mobilePhone")),
    (12, ("microsoftAuthenticatorPush",)),
    (5, ("microsoftAuthenticatorPush", "microsoftAuthenticatorPasswordless", "mobilePhone")),
    (4, ("fido2SecurityKey", "microsoftAuthenticatorPush")),
    (2, ("fido2SecurityKey",)),
    (4, ("passKeyDeviceBoundAuthenticator", "microsoftAuthenticatorPush")),
    (2, ("passKeyDeviceBound",)),
    (8, ("windowsHelloForBusiness", "microsoftAuthenticatorPush")),
    (2, ("windowsHelloForBusiness",)),
    (3, ("softwareOneTimePasscode", "mobilePhone")),
    (1, ("hardwareOneTimePasscode",)),
    (7, ("mobilePhone",)),
    (2, ("mobilePhone", "alternateMobilePhone", "officePhone")),
    (6, ("email",)),
    (2, ("temporaryAccessPass",)),
    (2, ("mobilePhone", "email")),
)

# Licence service plans as `/organization` reports them.
PREMIUM_PLANS = {
    "P1": [("41781fb2-bc02-4b7c-bd55-b576c07bb0b4", "AADPremiumService")],
    "P2": [
        ("41781fb2-bc02-4b7c-bd55-b576c07bb0b4", "AADPremiumService"),
        ("eec0eb4f-6444-4f95-aba0-50c24d67f998", "AADPremiumService"),
    ],
}
