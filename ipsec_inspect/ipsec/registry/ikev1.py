"""IANA ISAKMP / IKEv1 / IPsec DOI registries as data (RFC 2407, 2408, 2409 and successors).

Why a data module: IKEv1 names come from several registries (ISAKMP, the IKE DOI attribute
classes, the IPsec DOI) plus a few widely deployed private-use values (XAUTH, hybrid
authentication, Cisco Unity, DPD). Keeping them as rows means a missing name is one line to
add, and the crypto and audit layers read the same names. Names are spelled as IANA spells
them; private-use values are named as the implementations that defined them do.
"""

from __future__ import annotations

# (value, short name for summaries, IANA name)
EXCHANGE_TYPES: tuple[tuple[int, str, str], ...] = (
    (0, "NONE", "NONE"),
    (1, "Base", "Base"),
    (2, "Main Mode", "Identity Protection (Main Mode)"),
    (3, "Authentication Only", "Authentication Only"),
    (4, "Aggressive Mode", "Aggressive"),
    (5, "Informational", "Informational"),
    (6, "Transaction", "Transaction (Config Mode)"),
    (32, "Quick Mode", "Quick Mode"),
    (33, "New Group Mode", "New Group Mode"),
)

# ISAKMP Next Payload Types; 128-255 private use (130-132 as deployed).
PAYLOAD_TYPES: tuple[tuple[int, str, str], ...] = (
    (0, "NONE", "None"),
    (1, "SA", "Security Association"),
    (2, "P", "Proposal"),
    (3, "T", "Transform"),
    (4, "KE", "Key Exchange"),
    (5, "ID", "Identification"),
    (6, "CERT", "Certificate"),
    (7, "CR", "Certificate Request"),
    (8, "HASH", "Hash"),
    (9, "SIG", "Signature"),
    (10, "No", "Nonce"),
    (11, "N", "Notification"),
    (12, "D", "Delete"),
    (13, "V", "Vendor ID"),
    (14, "ATTR", "Attribute"),
    (15, "SAK", "SA KEK"),
    (16, "SAT", "SA TEK"),
    (17, "KD", "Key Download"),
    (18, "SEQ", "Sequence Number"),
    (19, "POP", "Proof of Possession"),
    (20, "NAT-D", "NAT Discovery"),
    (21, "NAT-OA", "NAT Original Address"),
    (22, "GAP", "Group Associated Policy"),
    (130, "NAT-D", "NAT Discovery (draft-ietf-ipsec-nat-t-ike-03 to -08)"),
    (131, "NAT-OA", "NAT Original Address (draft-ietf-ipsec-nat-t-ike-03 to -08)"),
    (132, "FRAG", "Cisco Fragmentation"),
)

# NAT-T drafts -00 to -08 (racoon's NATD_BADDRAFT) carried NAT-D/NAT-OA as types 15/16, which
# GDOI later took for SA KEK / SA TEK. Used when the message is an IKE phase-1 exchange.
DRAFT_NAT_PAYLOADS: tuple[tuple[int, str, str], ...] = (
    (15, "NAT-D", "NAT Discovery (NAT-T draft, type 15)"),
    (16, "NAT-OA", "NAT Original Address (NAT-T draft, type 16)"),
)

# Domain of Interpretation
DOI: tuple[tuple[int, str], ...] = (
    (0, "ISAKMP"),
    (1, "IPSEC"),
    (2, "GDOI"),
)

# IPsec DOI situation bits (RFC 2407 4.2)
SITUATION_BITS: tuple[tuple[int, str], ...] = (
    (0x01, "SIT_IDENTITY_ONLY"),
    (0x02, "SIT_SECRECY"),
    (0x04, "SIT_INTEGRITY"),
)

# IPsec DOI Security Protocol Identifiers (RFC 2407 4.4.1)
PROTOCOL_IDS: tuple[tuple[int, str], ...] = (
    (1, "PROTO_ISAKMP"),
    (2, "PROTO_IPSEC_AH"),
    (3, "PROTO_IPSEC_ESP"),
    (4, "PROTO_IPCOMP"),
    (5, "PROTO_GIGABEAM_RADIO"),
)

# ISAKMP transform identifiers (protocol PROTO_ISAKMP)
ISAKMP_TRANSFORM_IDS: tuple[tuple[int, str], ...] = ((1, "KEY_IKE"),)

# IPSEC AH Transform Identifiers
AH_TRANSFORM_IDS: tuple[tuple[int, str], ...] = (
    (2, "AH_MD5"),
    (3, "AH_SHA"),
    (4, "AH_DES"),
    (5, "AH_SHA2-256"),
    (6, "AH_SHA2-384"),
    (7, "AH_SHA2-512"),
    (8, "AH_RIPEMD"),
    (9, "AH_AES-XCBC-MAC"),
    (10, "AH_RSA"),
    (11, "AH_AES-128-GMAC"),
    (12, "AH_AES-192-GMAC"),
    (13, "AH_AES-256-GMAC"),
)

# IPSEC ESP Transform Identifiers
ESP_TRANSFORM_IDS: tuple[tuple[int, str], ...] = (
    (1, "ESP_DES_IV64"),
    (2, "ESP_DES"),
    (3, "ESP_3DES"),
    (4, "ESP_RC5"),
    (5, "ESP_IDEA"),
    (6, "ESP_CAST"),
    (7, "ESP_BLOWFISH"),
    (8, "ESP_3IDEA"),
    (9, "ESP_DES_IV32"),
    (10, "ESP_RC4"),
    (11, "ESP_NULL"),
    (12, "ESP_AES-CBC"),
    (13, "ESP_AES-CTR"),
    (14, "ESP_AES-CCM_8"),
    (15, "ESP_AES-CCM_12"),
    (16, "ESP_AES-CCM_16"),
    (18, "ESP_AES-GCM_8"),
    (19, "ESP_AES-GCM_12"),
    (20, "ESP_AES-GCM_16"),
    (21, "ESP_SEED_CBC"),
    (22, "ESP_CAMELLIA"),
    (23, "ESP_NULL_AUTH_AES-GMAC"),
)

# IPSEC IPCOMP Transform Identifiers
IPCOMP_TRANSFORM_IDS: tuple[tuple[int, str], ...] = (
    (1, "IPCOMP_OUI"),
    (2, "IPCOMP_DEFLATE"),
    (3, "IPCOMP_LZS"),
    (4, "IPCOMP_LZJH"),
)

# ------------------------------------------------------------------ IKE DOI (phase 1)

# IKE attribute classes (RFC 2409 Appendix A): (class, name, "B" basic or "V" variable)
IKE_ATTRIBUTE_TYPES: tuple[tuple[int, str, str], ...] = (
    (1, "Encryption Algorithm", "B"),
    (2, "Hash Algorithm", "B"),
    (3, "Authentication Method", "B"),
    (4, "Group Description", "B"),
    (5, "Group Type", "B"),
    (6, "Group Prime/Irreducible Polynomial", "V"),
    (7, "Group Generator One", "V"),
    (8, "Group Generator Two", "V"),
    (9, "Group Curve A", "V"),
    (10, "Group Curve B", "V"),
    (11, "Life Type", "B"),
    (12, "Life Duration", "V"),
    (13, "PRF", "B"),
    (14, "Key Length", "B"),
    (15, "Field Size", "B"),
    (16, "Group Order", "V"),
)

IKE_ENCRYPTION_ALGORITHMS: tuple[tuple[int, str], ...] = (
    (1, "DES-CBC"),
    (2, "IDEA-CBC"),
    (3, "Blowfish-CBC"),
    (4, "RC5-R16-B64-CBC"),
    (5, "3DES-CBC"),
    (6, "CAST-CBC"),
    (7, "AES-CBC"),
    (8, "CAMELLIA-CBC"),
)

IKE_HASH_ALGORITHMS: tuple[tuple[int, str], ...] = (
    (1, "MD5"),
    (2, "SHA"),
    (3, "Tiger"),
    (4, "SHA2-256"),
    (5, "SHA2-384"),
    (6, "SHA2-512"),
)

IKE_AUTH_METHODS: tuple[tuple[int, str], ...] = (
    (1, "Pre-shared Key"),
    (2, "DSS Signatures"),
    (3, "RSA Signatures"),
    (4, "Encryption with RSA"),
    (5, "Revised Encryption with RSA"),
    (9, "ECDSA with SHA-256 on the P-256 curve"),
    (10, "ECDSA with SHA-384 on the P-384 curve"),
    (11, "ECDSA with SHA-512 on the P-521 curve"),
    # draft-ietf-ipsec-isakmp-hybrid-auth and draft-beaulieu-ike-xauth (private use)
    (64221, "HybridInitRSA"),
    (64222, "HybridRespRSA"),
    (64223, "HybridInitDSS"),
    (64224, "HybridRespDSS"),
    (65001, "XAUTHInitPreShared"),
    (65002, "XAUTHRespPreShared"),
    (65003, "XAUTHInitDSS"),
    (65004, "XAUTHRespDSS"),
    (65005, "XAUTHInitRSA"),
    (65006, "XAUTHRespRSA"),
    (65007, "XAUTHInitRSAEncryption"),
    (65008, "XAUTHRespRSAEncryption"),
    (65009, "XAUTHInitRSARevisedEncryption"),
    (65010, "XAUTHRespRSARevisedEncryption"),
)

IKE_GROUP_DESCRIPTIONS: tuple[tuple[int, str], ...] = (
    (1, "Default 768-bit MODP group"),
    (2, "Alternate 1024-bit MODP group"),
    (3, "EC2N group on GP[2^155]"),
    (4, "EC2N group on GP[2^185]"),
    (5, "1536-bit MODP group"),
    (6, "EC2N group over GF[2^163]"),
    (7, "EC2N group over GF[2^163]"),
    (8, "EC2N group over GF[2^283]"),
    (9, "EC2N group over GF[2^283]"),
    (10, "EC2N group over GF[2^409]"),
    (11, "EC2N group over GF[2^409]"),
    (12, "EC2N group over GF[2^571]"),
    (13, "EC2N group over GF[2^571]"),
    (14, "2048-bit MODP group"),
    (15, "3072-bit MODP group"),
    (16, "4096-bit MODP group"),
    (17, "6144-bit MODP group"),
    (18, "8192-bit MODP group"),
    (19, "256-bit random ECP group"),
    (20, "384-bit random ECP group"),
    (21, "521-bit random ECP group"),
    (22, "1024-bit MODP Group with 160-bit Prime Order Subgroup"),
    (23, "2048-bit MODP Group with 224-bit Prime Order Subgroup"),
    (24, "2048-bit MODP Group with 256-bit Prime Order Subgroup"),
    (25, "192-bit Random ECP Group"),
    (26, "224-bit Random ECP Group"),
    (27, "224-bit Brainpool ECP group"),
    (28, "256-bit Brainpool ECP group"),
    (29, "384-bit Brainpool ECP group"),
    (30, "512-bit Brainpool ECP group"),
)

IKE_GROUP_TYPES: tuple[tuple[int, str], ...] = (
    (1, "MODP"),
    (2, "ECP"),
    (3, "EC2N"),
)

LIFE_TYPES: tuple[tuple[int, str], ...] = (
    (1, "seconds"),
    (2, "kilobytes"),
)

# IKE attribute class -> its value table (classes not listed carry plain numbers/bytes)
IKE_ATTRIBUTE_VALUES: tuple[tuple[int, tuple[tuple[int, str], ...]], ...] = (
    (1, IKE_ENCRYPTION_ALGORITHMS),
    (2, IKE_HASH_ALGORITHMS),
    (3, IKE_AUTH_METHODS),
    (4, IKE_GROUP_DESCRIPTIONS),
    (5, IKE_GROUP_TYPES),
    (11, LIFE_TYPES),
)

# ------------------------------------------------------------------ IPsec DOI (phase 2)

# IPsec Security Association Attributes (RFC 2407 4.5 and later): (class, name, B/V)
IPSEC_ATTRIBUTE_TYPES: tuple[tuple[int, str, str], ...] = (
    (1, "SA Life Type", "B"),
    (2, "SA Life Duration", "V"),
    (3, "Group Description", "B"),
    (4, "Encapsulation Mode", "B"),
    (5, "Authentication Algorithm", "B"),
    (6, "Key Length", "B"),
    (7, "Key Rounds", "B"),
    (8, "Compress Dictionary Size", "B"),
    (9, "Compress Private Algorithm", "V"),
    (10, "ECN Tunnel", "B"),
    (11, "Extended (64-bit) Sequence Number", "B"),
    (12, "Authentication Key Length", "B"),
    (13, "Signature Encoding Algorithm", "B"),
    (14, "Address Preservation", "B"),
    (15, "SA Direction", "B"),
)

ENCAPSULATION_MODES: tuple[tuple[int, str], ...] = (
    (1, "Tunnel"),
    (2, "Transport"),
    (3, "UDP-Encapsulated-Tunnel"),
    (4, "UDP-Encapsulated-Transport"),
    # draft-ietf-ipsec-nat-t-ike-00 to -08 (private use, still sent by old peers)
    (61443, "UDP-Encapsulated-Tunnel (draft)"),
    (61444, "UDP-Encapsulated-Transport (draft)"),
)

IPSEC_AUTH_ALGORITHMS: tuple[tuple[int, str], ...] = (
    (1, "HMAC-MD5"),
    (2, "HMAC-SHA"),
    (3, "DES-MAC"),
    (4, "KPDK"),
    (5, "HMAC-SHA2-256"),
    (6, "HMAC-SHA2-384"),
    (7, "HMAC-SHA2-512"),
    (8, "HMAC-RIPEMD"),
    (9, "AES-XCBC-MAC"),
    (10, "SIG-RSA"),
    (11, "AES-128-GMAC"),
    (12, "AES-192-GMAC"),
    (13, "AES-256-GMAC"),
)

ECN_TUNNEL: tuple[tuple[int, str], ...] = (
    (1, "Allowed"),
    (2, "Forbidden"),
)

EXTENDED_SEQUENCE_NUMBER: tuple[tuple[int, str], ...] = ((1, "64-bit Sequence Number"),)

SIGNATURE_ENCODINGS: tuple[tuple[int, str], ...] = (
    (1, "RSASSA-PKCS1-v1_5"),
    (2, "RSASSA-PSS"),
)

ADDRESS_PRESERVATION: tuple[tuple[int, str], ...] = (
    (1, "None"),
    (2, "Source-Only"),
    (3, "Destination-Only"),
    (4, "Source-and-Destination"),
)

SA_DIRECTIONS: tuple[tuple[int, str], ...] = (
    (1, "Sender-Only"),
    (2, "Receiver-Only"),
    (3, "Symmetric"),
)

IPSEC_ATTRIBUTE_VALUES: tuple[tuple[int, tuple[tuple[int, str], ...]], ...] = (
    (1, LIFE_TYPES),
    (3, IKE_GROUP_DESCRIPTIONS),
    (4, ENCAPSULATION_MODES),
    (5, IPSEC_AUTH_ALGORITHMS),
    (10, ECN_TUNNEL),
    (11, EXTENDED_SEQUENCE_NUMBER),
    (13, SIGNATURE_ENCODINGS),
    (14, ADDRESS_PRESERVATION),
    (15, SA_DIRECTIONS),
)

# ------------------------------------------------------------------ payload contents

# ISAKMP Notify Message Types (RFC 2408 3.14.1, IPsec DOI 4.6.3) and widely deployed private ones
NOTIFY_TYPES: tuple[tuple[int, str], ...] = (
    (1, "INVALID-PAYLOAD-TYPE"),
    (2, "DOI-NOT-SUPPORTED"),
    (3, "SITUATION-NOT-SUPPORTED"),
    (4, "INVALID-COOKIE"),
    (5, "INVALID-MAJOR-VERSION"),
    (6, "INVALID-MINOR-VERSION"),
    (7, "INVALID-EXCHANGE-TYPE"),
    (8, "INVALID-FLAGS"),
    (9, "INVALID-MESSAGE-ID"),
    (10, "INVALID-PROTOCOL-ID"),
    (11, "INVALID-SPI"),
    (12, "INVALID-TRANSFORM-ID"),
    (13, "ATTRIBUTES-NOT-SUPPORTED"),
    (14, "NO-PROPOSAL-CHOSEN"),
    (15, "BAD-PROPOSAL-SYNTAX"),
    (16, "PAYLOAD-MALFORMED"),
    (17, "INVALID-KEY-INFORMATION"),
    (18, "INVALID-ID-INFORMATION"),
    (19, "INVALID-CERT-ENCODING"),
    (20, "INVALID-CERTIFICATE"),
    (21, "CERT-TYPE-UNSUPPORTED"),
    (22, "INVALID-CERT-AUTHORITY"),
    (23, "INVALID-HASH-INFORMATION"),
    (24, "AUTHENTICATION-FAILED"),
    (25, "INVALID-SIGNATURE"),
    (26, "ADDRESS-NOTIFICATION"),
    (27, "NOTIFY-SA-LIFETIME"),
    (28, "CERTIFICATE-UNAVAILABLE"),
    (29, "UNSUPPORTED-EXCHANGE-TYPE"),
    (30, "UNEQUAL-PAYLOAD-LENGTHS"),
    (16384, "CONNECTED"),
    (24576, "RESPONDER-LIFETIME"),
    (24577, "REPLAY-STATUS"),
    (24578, "INITIAL-CONTACT"),
    # RFC 3706 (private use range, universally deployed)
    (36136, "R-U-THERE"),
    (36137, "R-U-THERE-ACK"),
    # Cisco Unity
    (40500, "UNITY-LOAD-BALANCE"),
    (40501, "UNITY-UNKNOWN"),
    (40503, "UNITY-GROUP-HASH"),
)

NOTIFY_PRIVATE_RANGES: tuple[tuple[int, int, str], ...] = (
    (8192, 16383, "Private Use"),
    (24579, 32767, "IPsec DOI reserved"),
    (32768, 65535, "Private Use"),
)

# IPsec DOI Identification Type Values (RFC 2407 4.6.2.1, RFC 3554)
ID_TYPES: tuple[tuple[int, str], ...] = (
    (1, "ID_IPV4_ADDR"),
    (2, "ID_FQDN"),
    (3, "ID_USER_FQDN"),
    (4, "ID_IPV4_ADDR_SUBNET"),
    (5, "ID_IPV6_ADDR"),
    (6, "ID_IPV6_ADDR_SUBNET"),
    (7, "ID_IPV4_ADDR_RANGE"),
    (8, "ID_IPV6_ADDR_RANGE"),
    (9, "ID_DER_ASN1_DN"),
    (10, "ID_DER_ASN1_GN"),
    (11, "ID_KEY_ID"),
    (12, "ID_LIST"),
)

# ISAKMP Certificate Encoding (RFC 2408 3.9)
CERT_ENCODINGS: tuple[tuple[int, str], ...] = (
    (0, "NONE"),
    (1, "PKCS #7 wrapped X.509 certificate"),
    (2, "PGP Certificate"),
    (3, "DNS Signed Key"),
    (4, "X.509 Certificate - Signature"),
    (5, "X.509 Certificate - Key Exchange"),
    (6, "Kerberos Tokens"),
    (7, "Certificate Revocation List (CRL)"),
    (8, "Authority Revocation List (ARL)"),
    (9, "SPKI Certificate"),
    (10, "X.509 Certificate - Attribute"),
)

# Attribute payload (Transaction exchange / Mode Config) message types
CFG_TYPES: tuple[tuple[int, str], ...] = (
    (1, "ISAKMP_CFG_REQUEST"),
    (2, "ISAKMP_CFG_REPLY"),
    (3, "ISAKMP_CFG_SET"),
    (4, "ISAKMP_CFG_ACK"),
)

# Mode Config (draft-dukes-ike-mode-cfg), XAUTH (draft-beaulieu-ike-xauth) and Cisco Unity
CFG_ATTRIBUTES: tuple[tuple[int, str], ...] = (
    (1, "INTERNAL_IP4_ADDRESS"),
    (2, "INTERNAL_IP4_NETMASK"),
    (3, "INTERNAL_IP4_DNS"),
    (4, "INTERNAL_IP4_NBNS"),
    (5, "INTERNAL_ADDRESS_EXPIRY"),
    (6, "INTERNAL_IP4_DHCP"),
    (7, "APPLICATION_VERSION"),
    (8, "INTERNAL_IP6_ADDRESS"),
    (9, "INTERNAL_IP6_NETMASK"),
    (10, "INTERNAL_IP6_DNS"),
    (11, "INTERNAL_IP6_NBNS"),
    (12, "INTERNAL_IP6_DHCP"),
    (13, "INTERNAL_IP4_SUBNET"),
    (14, "SUPPORTED_ATTRIBUTES"),
    (15, "INTERNAL_IP6_SUBNET"),
    (16520, "XAUTH-TYPE"),
    (16521, "XAUTH-USER-NAME"),
    (16522, "XAUTH-USER-PASSWORD"),
    (16523, "XAUTH-PASSCODE"),
    (16524, "XAUTH-MESSAGE"),
    (16525, "XAUTH-CHALLENGE"),
    (16526, "XAUTH-DOMAIN"),
    (16527, "XAUTH-STATUS"),
    (16528, "XAUTH-NEXT-PIN"),
    (16529, "XAUTH-ANSWER"),
    (28672, "UNITY_BANNER"),
    (28673, "UNITY_SAVE_PASSWD"),
    (28674, "UNITY_DEF_DOMAIN"),
    (28675, "UNITY_SPLIT_DOMAIN"),
    (28676, "UNITY_SPLIT_INCLUDE"),
    (28677, "UNITY_NATT_PORT"),
    (28678, "UNITY_LOCAL_LAN"),
    (28679, "UNITY_PFS"),
    (28680, "UNITY_FW_TYPE"),
    (28681, "UNITY_BACKUP_SERVERS"),
    (28682, "UNITY_DDNS_HOSTNAME"),
)

XAUTH_TYPES: tuple[tuple[int, str], ...] = (
    (0, "Generic"),
    (1, "RADIUS-CHAP"),
    (2, "OTP"),
    (3, "S/KEY"),
)
