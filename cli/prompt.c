/* prompt: ask on the terminal (stderr for the question, stdin for the
 * answer).  Whether anyone can answer is the caller's decision. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "prompt.h"

int prompt_known_host(void *arg, const char *peer, const char *fp, const char *file)
{
	char answer[32];

	(void)arg;
	fprintf(stderr,
		"ktlscp: %s is not a known receiver; its key fingerprint is\n"
		"ktlscp:     %s\n"
		"ktlscp: compare it with the output of 'ktlscp id' on the receiver.\n"
		"Trust this key and remember it in %s (yes/no)? ",
		peer, fp, file);
	for (;;) {
		if (fgets(answer, sizeof(answer), stdin) == NULL)
			return -ENODATA;
		answer[strcspn(answer, "\r\n")] = '\0';
		if (strcmp(answer, "yes") == 0)
			return 1;
		if (strcmp(answer, "no") == 0)
			return 0;
		fprintf(stderr, "Please type 'yes' or 'no': ");
	}
}
