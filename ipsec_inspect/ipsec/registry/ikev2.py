"""IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" as data.

Why a data module: every name a person reads (summaries, the TUI, audit findings) comes from
these rows, and adding a newly assigned value is adding one row. Names are spelled as IANA
spells them. Each table is a tuple of ``(value, name)`` rows (payload and transform types add
a short name used in one-line summaries); ``registry/__init__.py`` turns them into dicts once.
The three algorithm transform types (encryption, PRF, integrity) are not typed here: they
are read from the one algorithm table, ``registry/algorithms.py``, whose rows also carry
each algorithm's lengths, primitive, key-file names and strength.
"""

from __future__ import annotations

from ipsec_inspect.ipsec.registry import algorithms as algorithm_rows

# (value, short name for summaries, IANA name)
EXCHANGE_TYPES: tuple[tuple[int, str], ...] = (
    (34, "IKE_SA_INIT"),
    (35, "IKE_AUTH"),
    (36, "CREATE_CHILD_SA"),
    (37, "INFORMATIONAL"),
    (38, "IKE_SESSION_RESUME"),
    (39, "GSA_AUTH"),
    (40, "GSA_REGISTRATION"),
    (41, "GSA_REKEY"),
    (42, "GSA_INBAND_REKEY"),
    (43, "IKE_INTERMEDIATE"),
    (44, "IKE_FOLLOWUP_KE"),
)

PAYLOAD_TYPES: tuple[tuple[int, str, str], ...] = (
    (0, "NONE", "No Next Payload"),
    (33, "SA", "Security Association"),
    (34, "KE", "Key Exchange"),
    (35, "IDi", "Identification - Initiator"),
    (36, "IDr", "Identification - Responder"),
    (37, "CERT", "Certificate"),
    (38, "CERTREQ", "Certificate Request"),
    (39, "AUTH", "Authentication"),
    (40, "No", "Nonce"),
    (41, "N", "Notify"),
    (42, "D", "Delete"),
    (43, "V", "Vendor ID"),
    (44, "TSi", "Traffic Selector - Initiator"),
    (45, "TSr", "Traffic Selector - Responder"),
    (46, "SK", "Encrypted and Authenticated"),
    (47, "CP", "Configuration"),
    (48, "EAP", "Extensible Authentication"),
    (49, "GSPM", "Generic Secure Password Methods"),
    (50, "IDg", "Group Identification"),
    (51, "GSA", "Group Security Association"),
    (52, "KD", "Key Download"),
    (53, "SKF", "Encrypted and Authenticated Fragment"),
    (54, "PS", "Puzzle Solution"),
)

# Transform Type Values (RFC 7296, RFC 9370 additional key exchanges, RFC 9838 G-IKEv2).
TRANSFORM_TYPES: tuple[tuple[int, str, str], ...] = (
    (1, "ENCR", "Encryption Algorithm"),
    (2, "PRF", "Pseudorandom Function"),
    (3, "INTEG", "Integrity Algorithm"),
    (4, "KE", "Key Exchange Method"),
    (5, "SN", "Sequence Numbers"),
    (6, "ADDKE1", "Additional Key Exchange 1"),
    (7, "ADDKE2", "Additional Key Exchange 2"),
    (8, "ADDKE3", "Additional Key Exchange 3"),
    (9, "ADDKE4", "Additional Key Exchange 4"),
    (10, "ADDKE5", "Additional Key Exchange 5"),
    (11, "ADDKE6", "Additional Key Exchange 6"),
    (12, "ADDKE7", "Additional Key Exchange 7"),
    (13, "KWA", "Key Wrap Algorithm"),
    (14, "GCAUTH", "Group Controller Authentication Method"),
)

# Transform Type 1 - Encryption Algorithm Transform IDs
ENCRYPTION_ALGORITHMS: tuple[tuple[int, str], ...] = algorithm_rows.iana_names(
    algorithm_rows.ENCRYPTION_ALGORITHMS
)  # the rows of registry/algorithms.py

# Transform Type 2 - Pseudorandom Function Transform IDs
PRF_ALGORITHMS: tuple[tuple[int, str], ...] = algorithm_rows.iana_names(
    algorithm_rows.PRF_ALGORITHMS
)  # the rows of registry/algorithms.py

# Transform Type 3 - Integrity Algorithm Transform IDs
INTEGRITY_ALGORITHMS: tuple[tuple[int, str], ...] = algorithm_rows.iana_names(
    algorithm_rows.INTEGRITY_ALGORITHMS
)  # the rows of registry/algorithms.py

# Transform Type 4 - Key Exchange Method Transform IDs (also used by ADDKE1-7 and the
# KE payload's group field; formerly "Diffie-Hellman Group Transform IDs").
KEY_EXCHANGE_METHODS: tuple[tuple[int, str], ...] = (
    (0, "NONE"),
    (1, "768-bit MODP Group"),
    (2, "1024-bit MODP Group"),
    (5, "1536-bit MODP Group"),
    (14, "2048-bit MODP Group"),
    (15, "3072-bit MODP Group"),
    (16, "4096-bit MODP Group"),
    (17, "6144-bit MODP Group"),
    (18, "8192-bit MODP Group"),
    (19, "256-bit random ECP group"),
    (20, "384-bit random ECP group"),
    (21, "521-bit random ECP group"),
    (22, "1024-bit MODP Group with 160-bit Prime Order Subgroup"),
    (23, "2048-bit MODP Group with 224-bit Prime Order Subgroup"),
    (24, "2048-bit MODP Group with 256-bit Prime Order Subgroup"),
    (25, "192-bit Random ECP Group"),
    (26, "224-bit Random ECP Group"),
    (27, "brainpoolP224r1"),
    (28, "brainpoolP256r1"),
    (29, "brainpoolP384r1"),
    (30, "brainpoolP512r1"),
    (31, "Curve25519"),
    (32, "Curve448"),
    (33, "GOST3410_2012_256"),
    (34, "GOST3410_2012_512"),
    (35, "ML-KEM-512"),
    (36, "ML-KEM-768"),
    (37, "ML-KEM-1024"),
)

# Transform Type 5 - Sequence Numbers Transform IDs (formerly Extended Sequence Numbers)
SEQUENCE_NUMBERS: tuple[tuple[int, str], ...] = (
    (0, "No Extended Sequence Numbers"),
    (1, "Extended Sequence Numbers"),
    (2, "32-bit Unsigned Sequence Numbers"),
    (3, "Partially Transmitted 64-bit Sequence Numbers"),
)

# Transform Type 13 - Key Wrap Algorithm Transform IDs (G-IKEv2)
KEY_WRAP_ALGORITHMS: tuple[tuple[int, str], ...] = (
    (1, "KW_5649_128"),
    (2, "KW_5649_192"),
    (3, "KW_5649_256"),
    (4, "KW_ARX"),
)

# Transform Type 14 - Group Controller Authentication Method Transform IDs (G-IKEv2)
GROUP_CONTROLLER_AUTH_METHODS: tuple[tuple[int, str], ...] = (
    (1, "Implicit"),
    (2, "Digital Signature"),
)

TRANSFORM_ATTRIBUTE_TYPES: tuple[tuple[int, str], ...] = ((14, "Key Length"),)

# Security Protocol Identifiers
PROTOCOL_IDS: tuple[tuple[int, str], ...] = (
    (1, "IKE"),
    (2, "AH"),
    (3, "ESP"),
    (4, "FC_ESP_HEADER"),
    (5, "FC_CT_AUTHENTICATION"),
)

# IKEv2 Notify Message Types - Error Types and Status Types
NOTIFY_TYPES: tuple[tuple[int, str], ...] = (
    (1, "UNSUPPORTED_CRITICAL_PAYLOAD"),
    (4, "INVALID_IKE_SPI"),
    (5, "INVALID_MAJOR_VERSION"),
    (7, "INVALID_SYNTAX"),
    (9, "INVALID_MESSAGE_ID"),
    (11, "INVALID_SPI"),
    (14, "NO_PROPOSAL_CHOSEN"),
    (17, "INVALID_KE_PAYLOAD"),
    (24, "AUTHENTICATION_FAILED"),
    (34, "SINGLE_PAIR_REQUIRED"),
    (35, "NO_ADDITIONAL_SAS"),
    (36, "INTERNAL_ADDRESS_FAILURE"),
    (37, "FAILED_CP_REQUIRED"),
    (38, "TS_UNACCEPTABLE"),
    (39, "INVALID_SELECTORS"),
    (40, "UNACCEPTABLE_ADDRESSES"),
    (41, "UNEXPECTED_NAT_DETECTED"),
    (42, "USE_ASSIGNED_HoA"),
    (43, "TEMPORARY_FAILURE"),
    (44, "CHILD_SA_NOT_FOUND"),
    (45, "INVALID_GROUP_ID"),
    (46, "AUTHORIZATION_FAILED"),
    (47, "STATE_NOT_FOUND"),
    (48, "TS_MAX_QUEUE"),
    (16384, "INITIAL_CONTACT"),
    (16385, "SET_WINDOW_SIZE"),
    (16386, "ADDITIONAL_TS_POSSIBLE"),
    (16387, "IPCOMP_SUPPORTED"),
    (16388, "NAT_DETECTION_SOURCE_IP"),
    (16389, "NAT_DETECTION_DESTINATION_IP"),
    (16390, "COOKIE"),
    (16391, "USE_TRANSPORT_MODE"),
    (16392, "HTTP_CERT_LOOKUP_SUPPORTED"),
    (16393, "REKEY_SA"),
    (16394, "ESP_TFC_PADDING_NOT_SUPPORTED"),
    (16395, "NON_FIRST_FRAGMENTS_ALSO"),
    (16396, "MOBIKE_SUPPORTED"),
    (16397, "ADDITIONAL_IP4_ADDRESS"),
    (16398, "ADDITIONAL_IP6_ADDRESS"),
    (16399, "NO_ADDITIONAL_ADDRESSES"),
    (16400, "UPDATE_SA_ADDRESSES"),
    (16401, "COOKIE2"),
    (16402, "NO_NATS_ALLOWED"),
    (16403, "AUTH_LIFETIME"),
    (16404, "MULTIPLE_AUTH_SUPPORTED"),
    (16405, "ANOTHER_AUTH_FOLLOWS"),
    (16406, "REDIRECT_SUPPORTED"),
    (16407, "REDIRECT"),
    (16408, "REDIRECTED_FROM"),
    (16409, "TICKET_LT_OPAQUE"),
    (16410, "TICKET_REQUEST"),
    (16411, "TICKET_ACK"),
    (16412, "TICKET_NACK"),
    (16413, "TICKET_OPAQUE"),
    (16414, "LINK_ID"),
    (16415, "USE_WESP_MODE"),
    (16416, "ROHC_SUPPORTED"),
    (16417, "EAP_ONLY_AUTHENTICATION"),
    (16418, "CHILDLESS_IKEV2_SUPPORTED"),
    (16419, "QUICK_CRASH_DETECTION"),
    (16420, "IKEV2_MESSAGE_ID_SYNC_SUPPORTED"),
    (16421, "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED"),
    (16422, "IKEV2_MESSAGE_ID_SYNC"),
    (16423, "IPSEC_REPLAY_COUNTER_SYNC"),
    (16424, "SECURE_PASSWORD_METHODS"),
    (16425, "PSK_PERSIST"),
    (16426, "PSK_CONFIRM"),
    (16427, "ERX_SUPPORTED"),
    (16428, "IFOM_CAPABILITY"),
    (16429, "SENDER_REQUEST_ID"),
    (16430, "IKEV2_FRAGMENTATION_SUPPORTED"),
    (16431, "SIGNATURE_HASH_ALGORITHMS"),
    (16432, "CLONE_IKE_SA_SUPPORTED"),
    (16433, "CLONE_IKE_SA"),
    (16434, "PUZZLE"),
    (16435, "USE_PPK"),
    (16436, "PPK_IDENTITY"),
    (16437, "NO_PPK_AUTH"),
    (16438, "INTERMEDIATE_EXCHANGE_SUPPORTED"),
    (16439, "IP4_ALLOWED"),
    (16440, "IP6_ALLOWED"),
    (16441, "ADDITIONAL_KEY_EXCHANGE"),
    (16442, "USE_AGGFRAG"),
    (16443, "SUPPORTED_AUTH_METHODS"),
    (16444, "SA_RESOURCE_INFO"),
    (16445, "USE_PPK_INT"),
    (16446, "PPK_IDENTITY_KEY"),
)

# Ranges that have a meaning but no individual names.
NOTIFY_PRIVATE_RANGES: tuple[tuple[int, int, str], ...] = (
    (8192, 16383, "Private Use - Errors"),
    (40960, 65535, "Private Use - Status"),
)

# IKEv2 Identification Payload ID Types
ID_TYPES: tuple[tuple[int, str], ...] = (
    (1, "ID_IPV4_ADDR"),
    (2, "ID_FQDN"),
    (3, "ID_RFC822_ADDR"),
    (5, "ID_IPV6_ADDR"),
    (9, "ID_DER_ASN1_DN"),
    (10, "ID_DER_ASN1_GN"),
    (11, "ID_KEY_ID"),
    (12, "ID_FC_NAME"),
    (13, "ID_NULL"),
)

# IKEv2 Certificate Encodings
CERT_ENCODINGS: tuple[tuple[int, str], ...] = (
    (1, "PKCS #7 wrapped X.509 certificate"),
    (2, "PGP Certificate"),
    (3, "DNS Signed Key"),
    (4, "X.509 Certificate - Signature"),
    (6, "Kerberos Token"),
    (7, "Certificate Revocation List (CRL)"),
    (8, "Authority Revocation List (ARL)"),
    (9, "SPKI Certificate"),
    (10, "X.509 Certificate - Attribute"),
    (11, "Raw RSA Key"),
    (12, "Hash and URL of X.509 certificate"),
    (13, "Hash and URL of X.509 bundle"),
    (14, "OCSP Content"),
    (15, "Raw Public Key"),
)

# IKEv2 Authentication Method
AUTH_METHODS: tuple[tuple[int, str], ...] = (
    (1, "RSA Digital Signature"),
    (2, "Shared Key Message Integrity Code"),
    (3, "DSS Digital Signature"),
    (9, "ECDSA with SHA-256 on the P-256 curve"),
    (10, "ECDSA with SHA-384 on the P-384 curve"),
    (11, "ECDSA with SHA-512 on the P-521 curve"),
    (12, "Generic Secure Password Authentication Method"),
    (13, "NULL Authentication"),
    (14, "Digital Signature"),
)

# IKEv2 Traffic Selector Types
TS_TYPES: tuple[tuple[int, str], ...] = (
    (7, "TS_IPV4_ADDR_RANGE"),
    (8, "TS_IPV6_ADDR_RANGE"),
    (9, "TS_FC_ADDR_RANGE"),
    (10, "TS_SECLABEL"),
)

# IKEv2 Configuration Payload CFG Types
CFG_TYPES: tuple[tuple[int, str], ...] = (
    (1, "CFG_REQUEST"),
    (2, "CFG_REPLY"),
    (3, "CFG_SET"),
    (4, "CFG_ACK"),
)

# IKEv2 Configuration Payload Attribute Types
CP_ATTRIBUTES: tuple[tuple[int, str], ...] = (
    (1, "INTERNAL_IP4_ADDRESS"),
    (2, "INTERNAL_IP4_NETMASK"),
    (3, "INTERNAL_IP4_DNS"),
    (4, "INTERNAL_IP4_NBNS"),
    (6, "INTERNAL_IP4_DHCP"),
    (7, "APPLICATION_VERSION"),
    (8, "INTERNAL_IP6_ADDRESS"),
    (10, "INTERNAL_IP6_DNS"),
    (12, "INTERNAL_IP6_DHCP"),
    (13, "INTERNAL_IP4_SUBNET"),
    (14, "SUPPORTED_ATTRIBUTES"),
    (15, "INTERNAL_IP6_SUBNET"),
    (16, "MIP6_HOME_PREFIX"),
    (17, "INTERNAL_IP6_LINK"),
    (18, "INTERNAL_IP6_PREFIX"),
    (19, "HOME_AGENT_ADDRESS"),
    (20, "P_CSCF_IP4_ADDRESS"),
    (21, "P_CSCF_IP6_ADDRESS"),
    (22, "FTT_KAT"),
    (23, "EXTERNAL_SOURCE_IP4_NAT_INFO"),
    (24, "TIMEOUT_PERIOD_FOR_LIVENESS_CHECK"),
    (25, "INTERNAL_DNS_DOMAIN"),
    (26, "INTERNAL_DNSSEC_TA"),
    (27, "ENCDNS_IP4"),
    (28, "ENCDNS_IP6"),
    (29, "ENCDNS_DIGEST_INFO"),
)

# IKEv2 Hash Algorithms (SIGNATURE_HASH_ALGORITHMS notify, RFC 7427)
HASH_ALGORITHMS: tuple[tuple[int, str], ...] = (
    (1, "SHA1"),
    (2, "SHA2-256"),
    (3, "SHA2-384"),
    (4, "SHA2-512"),
    (5, "Identity"),
    (6, "STREEBOG_256"),
    (7, "STREEBOG_512"),
)

# IKEv2 Gateway Identity Types (REDIRECT / REDIRECTED_FROM, RFC 5685)
GATEWAY_ID_TYPES: tuple[tuple[int, str], ...] = (
    (1, "IPv4 address of the new VPN gateway"),
    (2, "IPv6 address of the new VPN gateway"),
    (3, "FQDN of the new VPN gateway"),
)

# IKEv2 Secure Password Methods (SECURE_PASSWORD_METHODS notify, RFC 6467)
SECURE_PASSWORD_METHODS: tuple[tuple[int, str], ...] = (
    (1, "PACE"),
    (2, "AugPAKE"),
    (3, "PSK"),
)

# EAP codes (RFC 3748, RFC 6696) and the method types commonly seen in IKEv2 EAP payloads.
EAP_CODES: tuple[tuple[int, str], ...] = (
    (1, "Request"),
    (2, "Response"),
    (3, "Success"),
    (4, "Failure"),
    (5, "Initiate"),
    (6, "Finish"),
)

EAP_TYPES: tuple[tuple[int, str], ...] = (
    (1, "Identity"),
    (2, "Notification"),
    (3, "Legacy Nak"),
    (4, "MD5-Challenge"),
    (5, "One-Time Password (OTP)"),
    (6, "Generic Token Card (GTC)"),
    (13, "EAP-TLS"),
    (17, "EAP-Cisco Wireless (LEAP)"),
    (18, "EAP-SIM"),
    (21, "EAP-TTLS"),
    (23, "EAP-AKA"),
    (25, "PEAP"),
    (26, "EAP-MSCHAP-V2"),
    (43, "EAP-FAST"),
    (47, "EAP-PSK"),
    (48, "EAP-SAKE"),
    (49, "EAP-IKEv2"),
    (50, "EAP-AKA'"),
    (51, "EAP-GPSK"),
    (52, "EAP-pwd"),
    (53, "EAP-EKE Version 1"),
    (55, "TEAP"),
    (254, "Expanded Types"),
    (255, "Experimental"),
)
