/* An aggregator dialogue's history as the hosts sharing a store keep it (store.h's struct
 * store_ussd): the `text` the aggregator sent with the last request answered, every input
 * joined by '*', except that an answer to a secret question is replaced by one mask byte,
 * so that no secret answer reaches the database. A host that did not answer the previous
 * request checks the next one against that history: the request must extend it by one
 * input, as ussd_http checks against the history it holds in memory.
 *
 * The price of the mask: a secret answer that itself holds a '*' makes the next request
 * look forged (refused, as a history that does not match). */
#ifndef GUICHET_USSD_SHARE_H
#define GUICHET_USSD_SHARE_H

#include <stdbool.h>

/* Stands for one secret answer in a shared history: a control character a phone's keypad
 * does not send. */
#define USSD_SHARE_MASK '\x1f'

/* history (as shared) extended by the request's input, or by the mask when the input
 * answered a secret question; talloc'd under ctx (NULL: no memory). */
char *ussd_share_extend(void *ctx, const char *history, const char *input, bool secret);
/* The input a request's text adds to history (as shared): text past history and its '*',
 * or text itself when history is empty. NULL when text does not extend history (forged,
 * replayed, or a state older or newer than this request). A mask in history matches one
 * input: one or more characters other than '*'. */
const char *ussd_share_input(const char *history, const char *text);

#endif
