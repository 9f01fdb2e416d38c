/* Unit tests of the sock_diag reply decoder with crafted netlink messages
 * (no NIC here can produce hw or hw_record), and of small ktls helpers. */
#include "config.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tls.h>
#include <stdint.h>
#include <string.h>

#include "ktls.h"
#include "tap.h"

static uint8_t buf[1024];

static size_t put_attr(uint8_t *p, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)p;

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (data)
		memcpy(RTA_DATA(a), data, len);
	return RTA_ALIGN(a->rta_len);
}

/* Build a SOCK_DIAG_BY_FAMILY reply; ulp: 0 none, 1 "tls" with confs,
 * 2 "mptcp". */
static size_t build(int ulp, uint16_t tx, uint16_t rx)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	uint8_t *p;
	size_t off;

	memset(buf, 0, sizeof(buf));
	nh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	off = NLMSG_LENGTH(sizeof(struct inet_diag_msg));
	p = buf + NLMSG_ALIGN(off);
	/* An unrelated attribute first. */
	{
		uint32_t mark = 7;

		p += put_attr(p, INET_DIAG_MARK, &mark, sizeof(mark));
	}
	if (ulp) {
		struct rtattr *ulpa = (struct rtattr *)p;
		uint8_t *q = (uint8_t *)RTA_DATA(ulpa);
		uint8_t *start = q;

		ulpa->rta_type = INET_DIAG_ULP_INFO;
		q += put_attr(q, INET_ULP_INFO_NAME, ulp == 1 ? "tls" : "mptcp", ulp == 1 ? 4 : 6);
		if (ulp == 1) {
			struct rtattr *t = (struct rtattr *)q;
			uint8_t *r = (uint8_t *)RTA_DATA(t);
			uint8_t *rs = r;
			uint16_t v = TLS_1_3_VERSION, c = TLS_CIPHER_AES_GCM_128;

			t->rta_type = INET_ULP_INFO_TLS;
			r += put_attr(r, TLS_INFO_VERSION, &v, 2);
			r += put_attr(r, TLS_INFO_CIPHER, &c, 2);
			r += put_attr(r, TLS_INFO_TXCONF, &tx, 2);
			r += put_attr(r, TLS_INFO_RXCONF, &rx, 2);
			t->rta_len = (unsigned short)RTA_LENGTH(r - rs);
			q += RTA_ALIGN(t->rta_len);
		}
		ulpa->rta_len = (unsigned short)RTA_LENGTH(q - start);
		p += RTA_ALIGN(ulpa->rta_len);
	}
	nh->nlmsg_len = (uint32_t)(p - buf);
	return nh->nlmsg_len;
}

int main(void)
{
	int tx, rx;
	size_t len;
	enum ktls_policy pol;

	len = build(1, TLS_CONF_SW, TLS_CONF_SW);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == 0 && tx == TLS_CONF_SW && rx == TLS_CONF_SW,
	   "sw/sw decoded");
	ok(ktls_mode_from_conf(tx) == KTLS_MODE_SW && strcmp(ktls_mode_name(KTLS_MODE_SW), "sw") == 0,
	   "TLS_CONF_SW is reported as sw");
	len = build(1, TLS_CONF_HW, TLS_CONF_SW);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == 0 && tx == TLS_CONF_HW && rx == TLS_CONF_SW,
	   "hw tx, sw rx decoded");
	ok(strcmp(ktls_mode_name(ktls_mode_from_conf(tx)), "hw") == 0, "TLS_CONF_HW is reported as hw");
	len = build(1, TLS_CONF_HW_RECORD, TLS_CONF_HW_RECORD);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == 0 && tx == TLS_CONF_HW_RECORD &&
	   strcmp(ktls_mode_name(ktls_mode_from_conf(rx)), "hw_record") == 0, "hw_record decoded");
	len = build(1, TLS_CONF_BASE, TLS_CONF_BASE);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == 0 &&
	   ktls_mode_from_conf(tx) == KTLS_MODE_USERSPACE, "TLS_CONF_BASE (no keys) is userspace");
	len = build(0, 0, 0);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == -ENODATA, "no ULP info (unprivileged, old kernel)");
	len = build(2, 0, 0);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == -ENODATA, "another ULP is not kTLS");
	{
		struct nlmsghdr *nh = (struct nlmsghdr *)buf;
		struct nlmsgerr *e = NLMSG_DATA(nh);

		memset(buf, 0, sizeof(buf));
		nh->nlmsg_type = NLMSG_ERROR;
		nh->nlmsg_len = NLMSG_LENGTH(sizeof(*e));
		e->error = -ENOENT;
		ok(ktls_diag_parse(buf, nh->nlmsg_len, &tx, &rx) == -ENOENT, "NLMSG_ERROR is returned");
	}
	len = build(1, TLS_CONF_SW, TLS_CONF_SW);
	ok(ktls_diag_parse(buf, len - 3, &tx, &rx) != 0 || 1, "truncated reply does not crash");
	ok(ktls_diag_parse(buf, 10, &tx, &rx) == -ENODATA, "tiny reply");
	ok(ktls_policy_parse("require", &pol) == 0 && pol == KTLS_REQUIRE, "--ktls require");
	ok(ktls_policy_parse("sometimes", &pol) == -EINVAL, "--ktls bad value");
	ok(strcmp(ktls_mode_name(KTLS_MODE_USERSPACE), "userspace") == 0 &&
	   strcmp(ktls_mode_name(KTLS_MODE_KERNEL), "kernel") == 0, "mode vocabulary");
	return tap_done();
}
