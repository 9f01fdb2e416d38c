/* tlsrec: TLS wire constants that more than one module needs (RFC 8446
 * section 5.1 record content types, section 4 handshake message types).
 * Names only; no code. */
#ifndef KTLSCP_TLSREC_H
#define KTLSCP_TLSREC_H

/* TLSPlaintext.type (also the cmsg TLS_SET_RECORD_TYPE / TLS_GET_RECORD_TYPE value). */
enum tls_content_type {
	TLS_CT_CHANGE_CIPHER_SPEC = 20,
	TLS_CT_ALERT = 21,
	TLS_CT_HANDSHAKE = 22,
	TLS_CT_APPLICATION_DATA = 23,
};

/* Handshake.msg_type. */
enum tls_handshake_type {
	TLS_HS_CLIENT_HELLO = 1,
	TLS_HS_NEW_SESSION_TICKET = 4,
	TLS_HS_KEY_UPDATE = 24,
};

/* The record header: type (1), legacy version (2), length (2). */
#define TLS_RECORD_HDR_LEN 5
/* RFC 8446 5.1: a record's plaintext is at most 2^14 bytes. */
#define TLS_RECORD_PAYLOAD_MAX 16384

#endif
