/* guichet send (api_client.h): libcurl, one POST /v1/messages, TLS verified. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include <osmocom/core/talloc.h>

#include "guichet/api_client.h"
#include "guichet/api_http.h"
#include "guichet/config.h"
#include "guichet/diag.h"

struct buf {
	char data[8192];
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *data)
{
	struct buf *b = data;
	size_t len = size * n, room = sizeof(b->data) - 1 - b->len;

	memcpy(b->data + b->len, p, len < room ? len : room);
	b->len += len < room ? len : room;
	b->data[b->len] = '\0';
	return len;
}

/* The bearer token: --token-file, else the first of the API's own tokens. NULL with err. */
static const char *pick_token(void *ctx, const struct config *c, const struct api_send *req,
			      char *err, size_t err_len)
{
	if (req->token_file)
		return config_read_secret(ctx, c, req->token_file, err, err_len);
	if (c->api->n_tokens)
		return c->api->tokens[0];
	snprintf(err, err_len, "the API takes client certificates only: give --token-file");
	return NULL;
}

/* The JSON body of POST /v1/messages (free() it), or NULL when memory runs out. */
static char *request_body(const struct api_send *req)
{
	json_t *o = json_pack("{s:s, s:s}", "to", req->to, "text", req->text);
	char *body;

	if (o && req->at)
		json_object_set_new(o, "send_at", json_string(req->at));
	if (o && req->reference)
		json_object_set_new(o, "reference", json_string(req->reference));
	if (o && req->idempotency_key)
		json_object_set_new(o, "idempotency_key", json_string(req->idempotency_key));
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return body;
}

/* The transfer's options: TLS verified, always, against --ca or the API's own certificate. */
static void set_options(CURL *curl, const struct config *c, const struct api_send *req,
			const char *url, struct curl_slist *h, const char *body, struct buf *resp)
{
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca) {
		curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca);
	} else {
		/* The API's own certificate as the anchor (curl accepts a partial chain): right
		 * for the self-signed certificate of a single host, and for a leaf a CA signed. */
		struct curl_blob blob = { .data = c->api->cert_pem, .len = strlen(c->api->cert_pem),
					  .flags = CURL_BLOB_COPY };
		curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
	}
}

/* The daemon's answer: 202 with an id -> "id N: status[: reason]" in out, 0; else -1 with
 * the problem's detail in err. */
static int read_answer(long code, const struct buf *resp, char *out, size_t out_len, char *err,
		       size_t err_len)
{
	json_t *a = json_loads(resp->data, 0, NULL);
	json_t *id, *st, *why;
	int rc = -1;

	if (code != 202) {
		json_t *detail = a ? json_object_get(a, "detail") : NULL;
		snprintf(err, err_len, "HTTP %ld: %s", code,
			 json_is_string(detail) ? json_string_value(detail) : resp->data);
		goto out;
	}
	id = a ? json_object_get(a, "id") : NULL;
	st = a ? json_object_get(a, "status") : NULL;
	why = a ? json_object_get(a, "reason") : NULL;
	if (!json_is_integer(id) || !json_is_string(st)) {
		snprintf(err, err_len, "HTTP 202 without an id: %s", resp->data);
		goto out;
	}
	snprintf(out, out_len, "id %" JSON_INTEGER_FORMAT ": %s%s%s", json_integer_value(id),
		 json_string_value(st), json_is_string(why) ? ": " : "",
		 json_is_string(why) ? json_string_value(why) : "");
	rc = 0;
out:
	json_decref(a);
	return rc;
}

int api_client_send(void *ctx, const struct api_send *req, char *out, size_t out_len, char *err,
		    size_t err_len)
{
	struct diag *d = diag_alloc(ctx);
	struct config *c = config_load(ctx, req->config, d);
	const char *token;
	char *url, *body = NULL, auth[600];
	struct curl_slist *h = NULL;
	struct buf resp = { .len = 0 };
	CURL *curl = NULL;
	CURLcode cc;
	long code = 0;
	int rc = -1;

	if (!c) {
		snprintf(err, err_len, "%s: %u error(s) (guichet check --config says which)",
			 req->config, d->n_errors);
		return -1;
	}
	if (!c->api) {
		snprintf(err, err_len, "%s has no `api:` section: the daemon serves no API",
			 req->config);
		return -1;
	}
	if (!(token = pick_token(ctx, c, req, err, err_len)))
		return -1;
	url = talloc_asprintf(ctx, strchr(c->api->listen, ':') ? "https://[%s]:%u/v1/messages" :
			      "https://%s:%u/v1/messages", c->api->listen, c->api->port);
	body = request_body(req);
	curl = curl_easy_init();
	if (!url || !body || !curl) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	set_options(curl, c, req, url, h, body, &resp);
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		snprintf(err, err_len, "%s: %s", url, curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	rc = read_answer(code, &resp, out, out_len, err, err_len);
out:
	free(body);
	curl_slist_free_all(h);
	if (curl)
		curl_easy_cleanup(curl);
	return rc;
}
