/* prompt: questions to the person at the terminal. */
#ifndef KTLSCP_PROMPT_H
#define KTLSCP_PROMPT_H

/* The known_hosts question (struct tls_opts .confirm): shows the
 * receiver's fingerprint on stderr and reads yes or no from standard input,
 * asking again on any other answer.  arg is unused.  Returns 1 for yes, 0
 * for no, -ENODATA when standard input ends first. */
int prompt_known_host(void *arg, const char *peer, const char *fp, const char *file);

#endif
