"""The simulated tenant's devices: Entra ID device objects, their registered owners and users,
the Intune records of the managed ones, mutations for tests, and ground truth.

Generation follows what a mid-size company's device list looks like (learn.microsoft.com
"What is a device identity?", "Microsoft Entra joined / hybrid joined / registered devices"):
Windows PCs Entra joined (`trustType` AzureAd) or hybrid joined (ServerAd, on-premises synced),
personal phones and Macs registered (Workplace); Intune-enrolled devices carry `isManaged` true,
an Intune `managedDevice` whose `azureADDeviceId` is the device's `deviceId`, and Entra's
`isCompliant` mirrors Intune's compliance state (Intune writes it). A registered owner is set at
registration and "currently, there can be only one owner"; registered users start equal to it
("List registeredOwners", "device resource type", v1.0).

ASSUMED where the docs are silent: unmanaged devices report `isManaged` false and `isCompliant`
null (never evaluated); Intune reports a missing identifier as "" (IMEI on a PC) and
`jailBroken` "Unknown" for PCs, as its examples show.

Every change takes the tenant's next sequence number and is logged in `log`, which
`entrasim.device_api` serves as `/devices/delta` rounds. Owner and registered-user changes are
links, not device properties: they are logged (kind "links") but a delta round reports only
property changes and deletions, as `devices/delta` documents no navigation properties.
"""

from __future__ import annotations

import bisect
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from entrasim.changelog import ChangeLog

if TYPE_CHECKING:
    from entrasim.tenant import Tenant, User

Json = dict[str, Any]
Compliance = Literal["compliant", "noncompliant", "inGracePeriod", "unknown"]

DEVICES_PER_USER = 1.2


@dataclass(frozen=True, slots=True)
class Platform:
    """One kind of device: how Entra and Intune describe it, and how often it occurs."""

    weight: float
    entra_os: str  # Entra `operatingSystem`
    intune_os: str  # Intune `operatingSystem`
    versions: tuple[str, ...]
    trust: str  # AzureAd, ServerAd, Workplace
    managed: float  # share enrolled in Intune
    personal: float  # share owned personally (Intune ownership), when managed
    models: tuple[tuple[str, str], ...]  # (manufacturer, model)
    prefix: str  # display name prefix
    phone: bool = False
    apple: bool = False


PLATFORMS: tuple[Platform, ...] = (
    Platform(0.30, "Windows", "Windows", ("10.0.22631.4460", "10.0.26100.2314", "10.0.19045.5131"),
             "AzureAd", 0.97, 0.0,
             (("Dell Inc.", "Latitude 7440"), ("LENOVO", "ThinkPad X1 Carbon Gen 11"),
              ("HP", "EliteBook 840 G10"), ("Microsoft Corporation", "Virtual Machine")),
             "CONTOSO-"),
    Platform(0.20, "Windows", "Windows", ("10.0.19045.5131", "10.0.22631.4460"), "ServerAd", 0.8,
             0.0, (("Dell Inc.", "OptiPlex 7010"), ("HP", "ProDesk 600 G6")), "DESKTOP-"),
    Platform(0.02, "Windows Server", "Windows", ("10.0.20348.2849",), "ServerAd", 0.0, 0.0,
             (("VMware, Inc.", "VMware Virtual Platform"),), "SRV-"),
    Platform(0.06, "Windows", "Windows", ("10.0.22631.4460",), "Workplace", 0.0, 0.0,
             (("ASUSTeK COMPUTER INC.", "ZenBook 14"),), "LAPTOP-"),
    Platform(0.08, "MacMDM", "macOS", ("14.7.1", "15.1.1"), "Workplace", 0.9, 0.1,
             (("Apple", "MacBook Pro (14-inch, 2023)"), ("Apple", "MacBook Air (M2, 2022)")),
             "MBP-", apple=True),
    Platform(0.14, "iOS", "iOS", ("17.7.2", "18.1.1"), "Workplace", 0.75, 0.5,
             (("Apple", "iPhone 15"), ("Apple", "iPhone 14 Pro")), "iPhone-", phone=True,
             apple=True),
    Platform(0.04, "iPadOS", "iPadOS", ("17.7.2", "18.1.1"), "Workplace", 0.8, 0.3,
             (("Apple", "iPad Air (5th generation)"),), "iPad-", apple=True),
    Platform(0.12, "AndroidForWork", "Android", ("14", "15", "13"), "Workplace", 0.7, 0.7,
             (("samsung", "SM-S921B"), ("Google", "Pixel 8")), "Android-", phone=True),
    Platform(0.04, "Linux", "Linux", ("22.04", "24.04"), "Workplace", 0.3, 0.0,
             (("Dell Inc.", "XPS 13 9340"),), "ubuntu-"),
)
_CUMULATIVE: tuple[float, ...] = tuple(
    sum(p.weight for p in PLATFORMS[: i + 1]) for i in range(len(PLATFORMS)))
_COMPLIANCE: tuple[tuple[float, Compliance], ...] = (
    (0.80, "compliant"), (0.92, "noncompliant"), (0.95, "inGracePeriod"), (1.0, "unknown"))


# A sign-in's deviceDetail names operating systems and join types its own way.
_SIGN_IN_OS = {"Windows": "Windows10", "Windows Server": "Windows", "MacMDM": "MacOs",
               "iOS": "Ios", "iPadOS": "Ios", "AndroidForWork": "Android", "Linux": "Linux"}
_SIGN_IN_TRUST = {"AzureAd": "Azure AD joined", "ServerAd": "Hybrid Azure AD joined",
                  "Workplace": "Azure AD registered"}


class IntuneRecord:
    """An Intune `managedDevice` (the fields the connector reads and a few more)."""

    __slots__ = ("compliance", "encrypted", "enrolled", "id", "imei", "last_sync", "meid",
                 "owner_type", "serial", "supervised", "udid")

    def __init__(self, id: str, compliance: Compliance, owner_type: str, enrolled: str,
                 last_sync: str) -> None:
        self.id = id
        self.compliance = compliance
        self.owner_type = owner_type  # company, personal, unknown
        self.enrolled = enrolled
        self.last_sync = last_sync
        self.serial = ""
        self.imei = ""
        self.meid = ""
        self.udid = ""
        self.encrypted = True
        self.supervised = False


class Device:
    """One Entra device object."""

    __slots__ = ("deleted", "device_id", "enabled", "id", "intune", "last_sign_in",
                 "manufacturer", "model", "name", "os_version", "owner", "platform", "registered",
                 "users", "version")

    def __init__(self, id: str, device_id: str, platform: Platform, name: str) -> None:
        self.id = id
        self.device_id = device_id
        self.platform = platform
        self.name = name
        self.os_version = platform.versions[0]
        self.enabled = True
        self.registered = ""
        self.last_sign_in: str | None = None
        self.manufacturer, self.model = platform.models[0]
        self.owner: User | None = None
        self.users: list[User] = []
        self.intune: IntuneRecord | None = None
        self.deleted: str | None = None
        self.version = 0

    def __repr__(self) -> str:
        return f"Device({self.id}, {self.name})"

    @property
    def is_managed(self) -> bool:
        return self.intune is not None

    @property
    def is_compliant(self) -> bool | None:
        """What Entra shows: Intune writes it for enrolled devices; never evaluated otherwise."""
        return None if self.intune is None else self.intune.compliance == "compliant"


def _iso(moment: datetime) -> str:
    return _iso_ts(int(moment.timestamp()))


def _iso_ts(ts: int) -> str:
    t = time.gmtime(ts)
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d}Z")


def entra_json(d: Device, props: tuple[str, ...] | list[str]) -> Json:
    """Graph's JSON of one device, `props` only (Graph returns null for an unset property)."""
    out: Json = {}
    for name in props:
        getter = ENTRA_PROPS.get(name)
        if getter is not None:
            out[name] = getter(d)
    return out


ENTRA_PROPS: dict[str, Any] = {
    "id": lambda d: d.id,
    "deviceId": lambda d: d.device_id,
    "displayName": lambda d: d.name,
    "accountEnabled": lambda d: d.enabled,
    "operatingSystem": lambda d: d.platform.entra_os,
    "operatingSystemVersion": lambda d: d.os_version,
    "trustType": lambda d: d.platform.trust,
    "isCompliant": lambda d: d.is_compliant,
    "isManaged": lambda d: d.is_managed,
    "managementType": lambda d: "MDM" if d.intune is not None else None,
    "enrollmentType": lambda d: ("AzureDomainJoined" if d.platform.trust == "AzureAd" else
                                 "OnPremiseCoManaged" if d.platform.trust == "ServerAd" else
                                 "UserEnrollment") if d.intune is not None else None,
    "deviceOwnership": lambda d: (None if d.intune is None or d.intune.owner_type == "unknown"
                                  else d.intune.owner_type),
    "isRooted": lambda d: False if d.platform.phone and not d.platform.apple else None,
    "manufacturer": lambda d: d.manufacturer,
    "model": lambda d: d.model,
    "registrationDateTime": lambda d: d.registered,
    "approximateLastSignInDateTime": lambda d: d.last_sign_in,
    "profileType": lambda d: "RegisteredDevice",
    "onPremisesSyncEnabled": lambda d: True if d.platform.trust == "ServerAd" else None,
    "mdmAppId": lambda d: ("0000000a-0000-0000-c000-000000000000" if d.intune is not None
                           else None),
    "systemLabels": lambda d: [],
    "physicalIds": lambda d: [],
    "deviceVersion": lambda d: 2,
}
ENTRA_DEFAULT: tuple[str, ...] = tuple(ENTRA_PROPS)


def intune_json(d: Device, props: tuple[str, ...] | list[str]) -> Json:
    rec = d.intune
    assert rec is not None
    owner = d.owner
    values: Json = {
        "id": rec.id,
        "userId": owner.id if owner is not None else None,
        "deviceName": d.name,
        "managedDeviceOwnerType": rec.owner_type,
        "enrolledDateTime": rec.enrolled,
        "lastSyncDateTime": rec.last_sync,
        "operatingSystem": d.platform.intune_os,
        "complianceState": rec.compliance,
        "jailBroken": "False" if d.platform.phone or d.platform.apple else "Unknown",
        "managementAgent": ("configurationManagerClientMdm" if d.platform.trust == "ServerAd"
                            else "mdm"),
        "osVersion": d.os_version,
        "azureADRegistered": True,
        "deviceEnrollmentType": ("windowsAzureADJoin" if d.platform.trust == "AzureAd" else
                                 "windowsCoManagement" if d.platform.trust == "ServerAd" else
                                 "userEnrollment"),
        "azureADDeviceId": d.device_id,
        "deviceRegistrationState": "registered",
        "isSupervised": rec.supervised,
        "isEncrypted": rec.encrypted,
        "userPrincipalName": owner.upn if owner is not None else "",
        "userDisplayName": (owner.display or "") if owner is not None else "",
        "emailAddress": (owner.mail or "") if owner is not None else "",
        "model": d.model,
        "manufacturer": d.manufacturer,
        "imei": rec.imei,
        "meid": rec.meid,
        "serialNumber": rec.serial,
        "udid": rec.udid,
        "phoneNumber": "",
        "wiFiMacAddress": "",
        "totalStorageSpaceInBytes": 256_000_000_000,
        "freeStorageSpaceInBytes": 101_000_000_000,
        "managedDeviceName": f"{owner.upn.split('@')[0] if owner else 'device'}_{d.platform.intune_os}",
    }
    return {name: values[name] for name in props if name in values}


INTUNE_DEFAULT: tuple[str, ...] = (
    "id", "userId", "deviceName", "managedDeviceOwnerType", "enrolledDateTime",
    "lastSyncDateTime", "operatingSystem", "complianceState", "jailBroken", "managementAgent",
    "osVersion", "azureADRegistered", "deviceEnrollmentType", "azureADDeviceId",
    "deviceRegistrationState", "isSupervised", "isEncrypted", "userPrincipalName",
    "userDisplayName", "emailAddress", "model", "manufacturer", "imei", "meid", "serialNumber",
    "udid", "phoneNumber", "wiFiMacAddress", "totalStorageSpaceInBytes",
    "freeStorageSpaceInBytes", "managedDeviceName",
)


@dataclass(frozen=True, slots=True)
class ExpectedDevice:
    """Ground truth for one device, in the connector's terms (Entra and Intune merged)."""

    id: str
    device_id: str
    name: str
    os: str
    os_version: str
    trust: str
    enabled: bool
    is_managed: bool
    is_compliant: bool | None
    is_personal: bool | None
    owner_id: str | None
    user_ids: tuple[str, ...]
    serial: str | None
    imei: str | None
    deleted: bool


class DeviceDirectory:
    """The tenant's devices, in Graph's listing order (object id); callers hold `tenant.lock`."""

    def __init__(self, tenant: Tenant, count: int | None = None) -> None:
        self.tenant = tenant
        self.log = ChangeLog()
        self._sorted: list[Device] = []
        self._ids: list[str] = []
        self._by_id: dict[str, Device] = {}
        self._by_device_id: dict[str, Device] = {}
        self._deleted: dict[str, Device] = {}
        self._primary: dict[str, Device] = {}  # owner id -> the device they sign in from
        spec = tenant.spec
        total = round(DEVICES_PER_USER * spec.users) if count is None else count
        self._rng = random.Random(f"devices:{spec.seed}")
        devices = [self._generate(u) for u in self._owners(total)]
        devices.sort(key=lambda d: d.id)
        self._sorted = devices
        self._ids = [d.id for d in devices]
        self._by_id = {d.id: d for d in devices}
        self._by_device_id = {d.device_id: d for d in devices}

    # ---- generation ------------------------------------------------------------------
    def _owners(self, total: int) -> list[User | None]:
        """Every member owns one device before anyone owns two; 3% of devices have no owner
        (kiosks, servers)."""
        users = self.tenant.device_owners
        members = [u for u in users if not u.is_guest] or users
        rand = self._rng.random
        out: list[User | None] = []
        for i in range(total):
            out.append(None if rand() < 0.03 else members[i % len(members)])
        return out

    def _uuid(self) -> str:
        h = f"{self._rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def _generate(self, owner: User | None, platform: Platform | None = None,
                  managed: bool | None = None, when: datetime | None = None) -> Device:
        rng = self._rng
        rand = rng.random
        if platform is None:
            r = rand() * _CUMULATIVE[-1]
            platform = PLATFORMS[bisect.bisect_left(_CUMULATIVE, r)]
        suffix = f"{rng.getrandbits(28):07X}"
        d = Device(self._uuid(), self._uuid(), platform, platform.prefix + suffix)
        d.os_version = platform.versions[int(rand() * len(platform.versions))]
        d.manufacturer, d.model = platform.models[int(rand() * len(platform.models))]
        as_of = int(self.tenant.spec.as_of.timestamp())
        registered = int(when.timestamp()) if when else as_of - int(rand() * 4 * 365 * 86400)
        d.registered = _iso_ts(registered)
        d.enabled = when is not None or rand() >= 0.03
        stale = rand()
        if when is not None:
            d.last_sign_in = d.registered
        elif stale < 0.02:
            d.last_sign_in = None  # registered, never used
        else:
            ago = rand() * 30 * 86400 if stale < 0.88 else (120 + rand() * 280) * 86400
            d.last_sign_in = _iso_ts(max(registered, as_of - int(ago)))
        if owner is not None:
            d.owner = owner
            d.users = [owner]
            self._primary.setdefault(owner.id, d)
        if managed if managed is not None else rand() < platform.managed:
            r = rand()
            compliance = next(state for bound, state in _COMPLIANCE if r < bound)
            personal = rand() < platform.personal
            owner_type = "unknown" if rand() < 0.02 else ("personal" if personal else "company")
            enrolled = registered + 300 + int(rand() * 3600)
            last_sync = as_of - int(rand() * 8 * 3600) if when is None else enrolled
            rec = IntuneRecord(self._uuid(), compliance, owner_type, _iso_ts(enrolled),
                               _iso_ts(max(last_sync, enrolled)))
            rec.serial = f"{rng.getrandbits(40):010X}"
            if platform.phone:
                rec.imei = f"35{rng.randrange(10**13):013d}"
                if rand() < 0.05:
                    rec.meid = f"A0000{rng.getrandbits(36):09X}"
            if platform.apple:
                rec.udid = f"00008{rng.getrandbits(80):020X}"
                rec.supervised = owner_type == "company"
            rec.encrypted = rand() < 0.9
            d.intune = rec
        return d

    # ---- lookups -----------------------------------------------------------------------
    def devices(self) -> list[Device]:
        return list(self._sorted)

    def devices_from(self, after_id: str | None) -> list[Device]:
        start = 0 if after_id is None else bisect.bisect_right(self._ids, after_id)
        return self._sorted[start:]

    def get(self, key: str) -> Device | None:
        """By object id, or by `deviceId` (Graph accepts both: `/devices(deviceId='...')`)."""
        return self._by_id.get(key) or self._by_device_id.get(key)

    def deleted(self, key: str) -> Device | None:
        return self._deleted.get(key)

    def managed(self) -> list[Device]:
        """Intune's view: enrolled, not deleted devices, in Intune id order."""
        return sorted((d for d in self._sorted if d.intune is not None),
                      key=lambda d: d.intune.id if d.intune else "")

    def primary_device(self, user_id: str) -> Device | None:
        """The device a user signs in from (their first device)."""
        d = self._primary.get(user_id)
        return d if d is not None and d.deleted is None else None

    def sign_in_device(self, user_id: str) -> tuple[str, str, str, bool | None, bool, str] | None:
        """`deviceDetail` of a user's sign-ins from their primary device, in the sign-in log's
        vocabulary: (deviceId, displayName, operatingSystem, isCompliant, isManaged, trustType)."""
        d = self.primary_device(user_id)
        if d is None:
            return None
        os_name = _SIGN_IN_OS.get(d.platform.entra_os, d.platform.entra_os)
        return (d.device_id, d.name, os_name, d.is_compliant, d.is_managed,
                _SIGN_IN_TRUST[d.platform.trust])

    def __len__(self) -> int:
        return len(self._sorted)

    # ---- mutations (callers need no lock: each takes the tenant's) -----------------------
    def _touch(self, d: Device, what: str = "props") -> None:
        d.version = self.tenant._bump()
        self.log.record(d.version, d.id, what)

    def _require(self, key: str) -> Device:
        d = self.get(key)
        if d is None:
            raise KeyError(key)
        return d

    def add_device(self, owner_id: str | None = None, *, platform: int = 0,
                   managed: bool = True) -> Device:
        """A newly registered device (PLATFORMS[platform]), owned by `owner_id`."""
        with self.tenant.lock:
            owner = self.tenant.user(owner_id) if owner_id else None
            now = datetime.now(UTC).replace(microsecond=0)
            d = self._generate(owner, PLATFORMS[platform], managed, when=now)
            i = bisect.bisect_left(self._ids, d.id)
            self._ids.insert(i, d.id)
            self._sorted.insert(i, d)
            self._by_id[d.id] = d
            self._by_device_id[d.device_id] = d
            self._touch(d)
            return d

    def delete_device(self, key: str) -> Device:
        """Deleted from Entra (and retired from Intune). Devices are not restorable: delta
        reports them with `@removed` reason `deleted`."""
        with self.tenant.lock:
            d = self._require(key)
            i = bisect.bisect_left(self._ids, d.id)
            del self._ids[i]
            del self._sorted[i]
            del self._by_id[d.id]
            del self._by_device_id[d.device_id]
            d.deleted = _iso(datetime.now(UTC))
            self._deleted[d.id] = d
            self._touch(d, "removed")
            return d

    def set_compliance(self, key: str, state: Compliance) -> None:
        """Intune re-evaluates the device; Entra's `isCompliant` follows."""
        with self.tenant.lock:
            d = self._require(key)
            if d.intune is None:
                raise ValueError(f"{d!r} is not enrolled in Intune")
            d.intune.compliance = state
            d.intune.last_sync = _iso(datetime.now(UTC))
            self._touch(d)

    def set_owner(self, key: str, owner_id: str) -> None:
        """A new registered owner (and user); a link change, invisible to `devices/delta`.

        The directory audit log records it (learn.microsoft.com "Microsoft Entra audit log
        categories and activities", Core Directory, category Device): "Remove registered owner
        from device" / "Remove registered users from device" for the old owner, "Add registered
        owner to device" / "Add registered users to device" for the new one, each naming the
        device (type "Device", its object id) and the user. ASSUMED: one record per activity.
        """
        from entrasim.audit import CORE_DIRECTORY, Target  # here: a module-level import cycles

        with self.tenant.lock:
            d = self._require(key)
            owner = self.tenant.user(owner_id)
            if owner is None:
                raise KeyError(owner_id)
            device = Target(d.id, "Device", d.name)
            for old in {u.id: u for u in [*([d.owner] if d.owner else []), *d.users]}.values():
                for activity in ("Remove registered owner from device",
                                 "Remove registered users from device"):
                    self.tenant.audit.write(activity, "Device", CORE_DIRECTORY, "Unassign", None,
                                            (device, Target(old.id, "User", old.display,
                                                            old.upn)))
            for activity in ("Add registered owner to device", "Add registered users to device"):
                self.tenant.audit.write(activity, "Device", CORE_DIRECTORY, "Assign", None,
                                        (device, Target(owner.id, "User", owner.display,
                                                        owner.upn)))
            d.owner = owner
            d.users = [owner]
            self._touch(d, "links")

    def disable_device(self, key: str) -> None:
        with self.tenant.lock:
            d = self._require(key)
            d.enabled = False
            self._touch(d)

    def enable_device(self, key: str) -> None:
        with self.tenant.lock:
            d = self._require(key)
            d.enabled = True
            self._touch(d)

    def set_os_version(self, key: str, version: str) -> None:
        with self.tenant.lock:
            d = self._require(key)
            d.os_version = version
            self._touch(d)

    # ---- ground truth --------------------------------------------------------------------
    def expected(self, d: Device) -> ExpectedDevice:
        rec = d.intune
        personal = None
        if rec is not None and rec.owner_type != "unknown":
            personal = rec.owner_type == "personal"
        return ExpectedDevice(
            id=d.id, device_id=d.device_id, name=d.name, os=d.platform.entra_os,
            os_version=d.os_version, trust=d.platform.trust, enabled=d.enabled,
            is_managed=d.is_managed, is_compliant=d.is_compliant if rec is None else (
                {"compliant": True, "noncompliant": False}.get(rec.compliance, d.is_compliant)),
            is_personal=personal, owner_id=d.owner.id if d.owner is not None else None,
            user_ids=tuple(sorted(u.id for u in d.users)),
            serial=(rec.serial or None) if rec is not None else None,
            imei=(rec.imei or None) if rec is not None else None,
            deleted=d.deleted is not None)

    def truth(self, *, include_deleted: bool = False) -> dict[str, ExpectedDevice]:
        """deviceId -> what the connector should report, for every (live) device."""
        with self.tenant.lock:
            out = {d.device_id: self.expected(d) for d in self._sorted}
            if include_deleted:
                out.update({d.device_id: self.expected(d) for d in self._deleted.values()})
            return out


class LazyDevices:
    """`Tenant.devices`: the directory is generated on first use, from the users the tenant was
    generated with, so a test that never reads devices or sign-ins pays nothing for them."""

    def __get__(self, tenant: Tenant | None, owner: type | None = None) -> DeviceDirectory:
        if tenant is None:
            raise AttributeError("devices belong to a Tenant instance")
        found: DeviceDirectory | None = tenant.__dict__.get("_devices")
        if found is None:
            with tenant.lock:
                found = tenant.__dict__.get("_devices")
                if found is None:
                    found = tenant.__dict__["_devices"] = DeviceDirectory(tenant,
                                                                          tenant.spec.devices)
        return found
