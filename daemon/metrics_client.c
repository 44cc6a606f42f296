/* Reading a running guichetd's counters. See metrics_client.h. */
#include <stdio.h>
#include <string.h>
#include <curl/curl.h>
#include <osmocom/core/talloc.h>

#include "guichet/diag.h"
#include "guichet/metrics_client.h"
#include "guichet/metrics_http.h"
#include "guichet/ydoc.h"

#define MAX_BODY (4u * 1024u * 1024u)

char *metrics_client_url(void *ctx, const char *config_file, char *err, size_t err_len)
{
	void *tmp = talloc_new(ctx);
	struct diag *d = diag_alloc(tmp);
	struct ydoc y = { 0 };
	struct metrics_http_config *mc = NULL;
	yaml_node_t *node;
	char *url = NULL;

	if (!d || ydoc_load_file(&y, tmp, config_file, d) < 0) {
		snprintf(err, err_len, "%s: cannot read the configuration", config_file);
		goto out;
	}
	node = ydoc_root(&y) ? ydoc_get(&y, ydoc_root(&y), "metrics") : NULL;
	if (!node) {
		snprintf(err, err_len, "%s has no `metrics:` section: guichetd serves no counters "
			 "(add `metrics: { listen: 127.0.0.1, port: 9464 }` and reload)", config_file);
		goto out;
	}
	if (metrics_http_config_parse(tmp, &y, node, &mc) < 0) {
		snprintf(err, err_len, "%s: the `metrics:` section is not valid (guichet check "
			 "--config tells why)", config_file);
		goto out;
	}
	url = strchr(mc->listen, ':') ? talloc_asprintf(ctx, "http://[%s]:%u/metrics", mc->listen,
							 mc->port)
				      : talloc_asprintf(ctx, "http://%s:%u/metrics", mc->listen,
							 mc->port);
out:
	ydoc_free(&y);
	talloc_free(tmp);
	return url;
}

struct body {
	char *text;
	size_t len;
};

static size_t on_data(char *data, size_t size, size_t n, void *userdata)
{
	struct body *b = userdata;
	size_t add = size * n;
	char *t;

	if (b->len + add > MAX_BODY)
		return 0;
	t = talloc_realloc(NULL, b->text, char, b->len + add + 1);
	if (!t)
		return 0;
	memcpy(t + b->len, data, add);
	b->len += add;
	t[b->len] = '\0';
	b->text = t;
	return add;
}

char *metrics_client_fetch(void *ctx, const char *url, char *err, size_t err_len)
{
	struct body b = { .text = talloc_strdup(NULL, ""), .len = 0 };
	CURL *h = curl_easy_init();
	CURLcode rc;
	long status = 0;

	if (!h || !b.text) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		snprintf(err, err_len, "%s: %s (is guichetd running, with `metrics:` configured?)",
			 url, curl_easy_strerror(rc));
		goto fail;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(err, err_len, "%s: HTTP %ld", url, status);
		goto fail;
	}
	curl_easy_cleanup(h);
	return talloc_steal(ctx, b.text);
fail:
	if (h)
		curl_easy_cleanup(h);
	talloc_free(b.text);
	return NULL;
}
