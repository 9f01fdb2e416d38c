/* info: what this host's kernel offers for kTLS. */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "opts.h"

/* info's options. */
static struct info_cli {
	int json;
} opt;

static struct poptOption info_table[] = {
	{ "json", 0, POPT_ARG_NONE, &opt.json, 0, "print one JSON object on stdout", NULL },
	CLI_HELP_TABLE
	POPT_TABLEEND
};

static void print_tls_stat(FILE *f, bool json)
{
	struct ktls_stat c[KTLS_STAT_MAX];
	int n = ktls_stat_read(c, KTLS_STAT_MAX), i;

	if (json)
		fputs(",\"tls_stat\":", f);
	if (n < 0) {
		if (json)
			fputs("null", f);
		else
			fprintf(f, "tls_stat: not available (/proc/net/tls_stat: %s)\n", strerror(-n));
		return;
	}
	if (json)
		fputc('{', f);
	else
		fputs("tls_stat:\n", f);
	for (i = 0; i < n; i++) {
		if (json) {
			fprintf(f, "%s", i ? "," : "");
			report_json_str(f, c[i].name);
			fprintf(f, ":%ld", c[i].value);
		} else {
			fprintf(f, "  %-24s %ld\n", c[i].name, c[i].value);
		}
	}
	if (json)
		fputc('}', f);
}

/* Each interface's TLS offload features, as ethtool -k shows them. */
static void print_nics(FILE *f, bool json)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	bool first = true;

	if (json)
		fputs(",\"interfaces\":[", f);
	else
		fputs("NIC TLS offload (ethtool features):\n", f);
	for (i = ifs; i && i->if_name; i++) {
		struct ktls_nic_feature feat[KTLS_NIC_NFEAT];
		int rc = ktls_nic_features(i->if_name, feat), k;

		if (json) {
			fprintf(f, "%s{\"name\":", first ? "" : ",");
			report_json_str(f, i->if_name);
			for (k = 0; k < KTLS_NIC_NFEAT && rc == 0; k++) {
				fputc(',', f);
				report_json_str(f, feat[k].name);
				fprintf(f, ":%s", !feat[k].known ? "null" : feat[k].active ? "true" : "false");
			}
			if (rc < 0) {
				fputs(",\"error\":", f);
				report_json_str(f, strerror(-rc));
			}
			fputc('}', f);
		} else if (rc < 0) {
			fprintf(f, "  %-12s (%s)\n", i->if_name, strerror(-rc));
		} else {
			fprintf(f, "  %-12s", i->if_name);
			for (k = 0; k < KTLS_NIC_NFEAT; k++)
				fprintf(f, " %s %s%s", feat[k].name,
					!feat[k].known ? "unknown" : feat[k].active ? "on" : "off",
					feat[k].known && feat[k].fixed ? " [fixed]" : "");
			fputc('\n', f);
		}
		first = false;
	}
	if (json)
		fputc(']', f);
	if (ifs)
		if_freenameindex(ifs);
}

static int cmd_info(const struct cmd_entry *self, int nargs, const char **args)
{
	struct ktls_probe_result res[KTLS_PROBE_MAX];
	char why[200], prio[160];
	int avail, n = 0, i, rekey = -ENOENT;
	bool json = opt.json;

	(void)self;
	(void)nargs;
	(void)args;
	avail = ktls_available(why, sizeof(why));
	if (avail == 0) {
		n = ktls_probe(res, prio, sizeof(prio));
		rekey = ktls_rekey_probe();
	}
	if (json) {
		printf("{\"gnutls\":");
		report_json_str(stdout, gnutls_check_version(NULL));
		printf(",\"ktls\":%s,\"ktls_reason\":", avail == 0 ? "true" : "false");
		report_json_str(stdout, why);
		printf(",\"ciphers\":[");
		for (i = 0; avail == 0 && n >= 0 && i < KTLS_PROBE_MAX; i++) {
			printf("%s{\"cipher\":\"%s\",\"tls\":\"1.%d\",\"tx\":%s,\"rx\":%s}", i ? "," : "",
			       res[i].cipher, res[i].version - 10, res[i].tx_err ? "false" : "true",
			       res[i].rx_err ? "false" : "true");
		}
		printf("],\"ktls_rekey\":%s", rekey == 1 ? "true" : "false");
		print_nics(stdout, true);
		print_tls_stat(stdout, true);
		printf("}\n");
	} else {
		printf("GnuTLS: %s\n", gnutls_check_version(NULL));
		printf("kernel TLS: %s\n", avail == 0 ? "available" : "not available");
		printf("  %s\n", why);
		if (avail == 0 && n >= 0) {
			printf("ciphers (kernel accepts as TLS_TX / TLS_RX):\n");
			for (i = 0; i < KTLS_PROBE_MAX; i++)
				printf("  TLS1.%d %-18s tx %-3s rx %s\n", res[i].version - 10, res[i].cipher,
				       res[i].tx_err ? "no" : "yes", res[i].rx_err ? "no" : "yes");
		}
		if (avail == 0)
			printf("key update (TLS 1.3 rekey on a kTLS socket): %s\n",
			       rekey == 1   ? "yes" :
			       rekey == 0   ? "no (the kernel takes keys once: EBUSY)" :
					      strerror(-rekey));
		print_nics(stdout, false);
		print_tls_stat(stdout, false);
	}
	return 0;
}

const struct cmd_entry cmd_info_entry = {
	.name = "info",
	.args = "[--json]",
	.summary = "show what this host's kernel offers for kTLS",
	.table = info_table,
	.min_args = 0,
	.max_args = 0,
	.exec = cmd_info,
};
