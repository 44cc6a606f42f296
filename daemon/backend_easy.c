/* A back-end call's easy handle: the options every call to its back-end has, set once per
 * handle; handles of finished calls kept per back-end for the next calls; the request's URL,
 * body and headers (built by backend_request.c) and the answer read into the call. */
#include <stdio.h>
#include <string.h>
#include <curl/curl.h>
#include <osmocom/core/talloc.h>

#include "guichet/backend_relay.h"


static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct relay_call *c = userdata;
	size_t n = size * nmemb, max = c->b->def->max_response;

	if (n > max - c->resp_len) {
		c->too_big = true;
		return 0;	/* CURLE_WRITE_ERROR: the transfer stops here */
	}
	if (c->resp_len + n + 1 > c->resp_cap) {
		size_t cap = c->resp_cap ? c->resp_cap * 2 : 4096;
		char *p;

		while (cap < c->resp_len + n + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		p = talloc_realloc_size(c, c->resp, cap);
		if (!p)
			return 0;
		c->resp = p;
		c->resp_cap = cap;
	}
	memcpy(c->resp + c->resp_len, ptr, n);
	c->resp_len += n;
	c->resp[c->resp_len] = '\0';
	return n;
}

static int prereq_cb(void *clientp, char *primary_ip, char *local_ip, int primary_port,
		     int local_port)
{
	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	struct relay_call *c = clientp;
	long v = 0;
	curl_easy_getinfo(c->easy, CURLINFO_HTTP_VERSION, &v);
	c->b->h2 = v == CURL_HTTP_VERSION_2_0;
	backend_call_connected(c);
	return CURL_PREREQFUNC_OK;
}

/* The options every call to back-end b has: set once per easy handle. */
static void easy_constant(struct backend_relay *r, struct rt_backend *b, CURL *e)
{
	const struct backend_def *d = b->def;

	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SHARE, r->share);
	/* HTTP/2 when the back-end offers it (ALPN), and then wait for the one multiplexed
	 * connection instead of opening one per call while it is being set up. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)d->max_response);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "guichet/1");
	/* Verification is always on; there is deliberately no setting to turn it off. */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (d->ca) {
		/* Only the configured CA: not the system's as well. */
		curl_easy_setopt(e, CURLOPT_CAINFO, d->ca);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	switch (d->auth) {
	case BACKEND_AUTH_BEARER:
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, b->token);
		break;
	case BACKEND_AUTH_BASIC:
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, d->user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, b->password);
		break;
	case BACKEND_AUTH_CERT:
		curl_easy_setopt(e, CURLOPT_SSLCERT, d->cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, d->key);
		break;
	case BACKEND_AUTH_NONE:
		break;
	}
}

/* An easy handle for c: an idle one of its back-end, or a new one. */
static CURL *easy_take(struct relay_call *c)
{
	struct rt_backend *b = c->b;
	CURL *e;

	if (b->n_idle)
		return b->idle[--b->n_idle];
	e = curl_easy_init();
	if (e)
		easy_constant(c->r, b, e);
	return e;
}

/* c's handle back to its back-end's idle ones (or freed when they are enough): nothing in
 * it may point into c any more. */
void backend_easy_give_back(struct relay_call *c)
{
	struct rt_backend *b = c->b;
	CURL *e = c->easy;

	c->easy = NULL;
	if (b->n_idle >= EASY_POOL) {
		curl_easy_cleanup(e);
		return;
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, NULL);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
	b->idle[b->n_idle++] = e;
}

/* The request's headers: the fixed ones, then the back-end's and the operation's. */
static struct curl_slist *build_headers(struct relay_call *c, const struct vars *args,
					char *err, size_t err_len)
{
	const struct backend_def *d = c->b->def;
	const struct backend_op *op = c->op;
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");

	if (h && op->has_body)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (h)
		h = curl_slist_append(h, "Expect:");
	for (unsigned i = 0; h && i < d->n_headers + op->n_headers; i++) {
		const struct backend_kv *kv = i < d->n_headers ? &d->headers[i]
							       : &op->headers[i - d->n_headers];
		char *line = backend_build_header(c, kv, args, err, err_len);

		if (!line) {
			curl_slist_free_all(h);
			return NULL;
		}
		struct curl_slist *n = curl_slist_append(h, line);
		talloc_free(line);
		if (!n)
			curl_slist_free_all(h);
		h = n;
	}
	if (!h && !err[0])
		snprintf(err, err_len, "out of memory");
	return h;
}

int backend_easy_setup(struct relay_call *c, const struct vars *args, char *err,
		       size_t err_len)
{
	const struct backend_op *op = c->op;
	CURL *e;

	err[0] = '\0';
	c->url = backend_build_url(c, c->b->def, op, args, err, err_len);
	if (!c->url)
		return -1;
	c->body = backend_build_body(c, op, args, err, err_len);
	if (!c->body)
		return -1;
	c->headers = build_headers(c, args, err, err_len);
	if (!c->headers)
		return -1;
	e = c->easy = easy_take(c);
	if (!e) {
		snprintf(err, err_len, "cannot create a curl handle");
		return -1;
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
	/* A handle may come from a call with another method: back to GET first. */
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	if (strcmp(op->method, "GET")) {
		if (strcmp(op->method, "POST"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, op->method);
		if (op->has_body || strcmp(op->method, "DELETE")) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body));
		}
	}
	return 0;
}
