/* flood_msg: regflood's REGISTER template, answer matching and latency
 * histogram. Every request has the same length (fixed-width fields), so a
 * request is a memcpy of the template and a few digits written in place. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "regflood.h"

#define SEQ_DIGITS  10
#define CSEQ_DIGITS 10
#define BRANCH      "z9hG4bK-rf"

static unsigned digits(uint32_t v)
{
    unsigned n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static void write_dec(char *p, uint64_t v, unsigned width)
{
    while (width-- > 0) {
        p[width] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* The offset of the next run of n copies of c at or after *from. */
static size_t find_run(const char *text, size_t *from, char c, unsigned n)
{
    const char *p = text + *from;

    while (*p != '\0') {
        if (*p == c) {
            *from = (size_t)(p - text) + n;
            return (size_t)(p - text);
        }
        p++;
    }
    return 0;
}

int flood_tmpl_init(struct flood *f)
{
    struct flood_tmpl *t = &f->tmpl;
    char host[INET_ADDRSTRLEN], dn[16], seq[SEQ_DIGITS + 1], cseq[CSEQ_DIGITS + 1];
    const char *tp = f->tcp ? "TCP" : "UDP";
    unsigned sport = ntohs(f->server.sin_port);
    size_t at = 0;
    int n;

    t->dn_digits = digits(f->dn_first);
    if (digits(f->dn_first + f->n_dns - 1) != t->dn_digits)
        return -1;
    inet_ntop(AF_INET, &f->server.sin_addr, host, sizeof(host));
    memset(dn, '#', t->dn_digits);
    dn[t->dn_digits] = '\0';
    memset(seq, '$', SEQ_DIGITS);
    seq[SEQ_DIGITS] = '\0';
    memset(cseq, '%', CSEQ_DIGITS);
    cseq[CSEQ_DIGITS] = '\0';
    n = snprintf(t->text, sizeof(t->text),
                 "REGISTER sip:%s:%u SIP/2.0\r\n"
                 "Via: SIP/2.0/%s 127.0.0.1:&&&&&;branch=" BRANCH "%s;rport\r\n"
                 "Max-Forwards: 70\r\n"
                 "From: <sip:%s@%s>;tag=%s\r\n"
                 "To: <sip:%s@%s>\r\n"
                 "Call-ID: rf%08x-%s@regflood\r\n"
                 "CSeq: %s REGISTER\r\n"
                 "Contact: <sip:%s@127.0.0.1:5999;transport=%s>\r\n"
                 "Expires: %u\r\n"
                 "User-Agent: regflood\r\n"
                 "Content-Length: 0\r\n\r\n",
                 host, sport, tp, seq, dn, host, seq, dn, host, f->run_id, dn, cseq, dn,
                 f->tcp ? "tcp" : "udp", f->expires);
    if (n < 0 || (size_t)n >= sizeof(t->text))
        return -1;
    t->len = (size_t)n;
    t->off_port = find_run(t->text, &at, '&', 5);
    t->off_seq[0] = find_run(t->text, &at, '$', SEQ_DIGITS);
    t->off_dn[0] = find_run(t->text, &at, '#', t->dn_digits);
    t->off_seq[1] = find_run(t->text, &at, '$', SEQ_DIGITS);
    t->off_dn[1] = find_run(t->text, &at, '#', t->dn_digits);
    t->off_dn[2] = find_run(t->text, &at, '#', t->dn_digits);
    t->off_cseq = find_run(t->text, &at, '%', CSEQ_DIGITS);
    t->off_dn[3] = find_run(t->text, &at, '#', t->dn_digits);
    return 0;
}

void flood_msg_write(const struct flood *f, uint32_t seq, uint16_t port, char *out)
{
    const struct flood_tmpl *t = &f->tmpl;
    const struct flood_req *r = &f->reqs[seq];
    uint32_t dn = f->dn_first + r->dn;

    memcpy(out, t->text, t->len);
    write_dec(out + t->off_port, port, 5);
    write_dec(out + t->off_seq[0], seq, SEQ_DIGITS);
    write_dec(out + t->off_seq[1], seq, SEQ_DIGITS);
    for (unsigned i = 0; i < 4; i++)
        write_dec(out + t->off_dn[i], dn, t->dn_digits);
    write_dec(out + t->off_cseq, r->cseq, CSEQ_DIGITS);
}

static unsigned hist_index(uint32_t v)
{
    unsigned e;

    if (v < 128)
        return v;
    e = 31u - (unsigned)__builtin_clz(v) - 6u; /* v >> e is in [64, 128) */
    return 128u + (e - 1u) * 64u + ((v >> e) - 64u);
}

static double hist_value(unsigned i)
{
    unsigned e;

    if (i < 128)
        return i;
    e = (i - 128u) / 64u + 1u;
    return (double)((64u + (i - 128u) % 64u) << e) + (double)(1u << e) / 2.0;
}

void flood_hist_add(struct flood_hist *h, uint32_t us)
{
    h->b[hist_index(us)]++;
    h->n++;
}

double flood_hist_quantile(const struct flood_hist *h, double q)
{
    uint64_t want, seen = 0;

    if (h->n == 0)
        return 0;
    want = (uint64_t)(q * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    for (unsigned i = 0; i < FLOOD_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > want)
            return hist_value(i);
    }
    return 0;
}

static bool has_retry_after(const char *buf, size_t len)
{
    return memmem(buf, len, "\nRetry-After:", 13) != NULL ||
           memmem(buf, len, "\nretry-after:", 13) != NULL;
}

void flood_answer(struct flood *f, const char *buf, size_t len, uint32_t now_us)
{
    const char *b;
    struct flood_req *r;
    uint32_t seq = 0, lat;
    unsigned code;

    if (len < 12 || memcmp(buf, "SIP/2.0 ", 8) != 0)
        goto stray;
    code = (unsigned)(buf[8] - '0') * 100 + (unsigned)(buf[9] - '0') * 10 +
           (unsigned)(buf[10] - '0');
    b = memmem(buf, len, BRANCH, sizeof(BRANCH) - 1);
    if (code < 100 || code > 699 || b == NULL ||
        (size_t)(buf + len - b) < sizeof(BRANCH) - 1 + SEQ_DIGITS)
        goto stray;
    b += sizeof(BRANCH) - 1;
    for (unsigned i = 0; i < SEQ_DIGITS; i++) {
        if (b[i] < '0' || b[i] > '9')
            goto stray;
        seq = seq * 10 + (uint32_t)(b[i] - '0');
    }
    if (seq >= f->n_sent)
        goto stray;
    if (seq < f->seq_base)
        return; /* a late answer to the warm-up */
    if (code < 200)
        return;
    r = &f->reqs[seq];
    if (r->state == REQ_ANSWERED) {
        f->dup_answers++;
        return;
    }
    r->state = REQ_ANSWERED;
    f->answered++;
    f->codes[code]++;
    lat = now_us - r->t_us;
    flood_hist_add(&f->lat_all, lat);
    f->dn_flags[r->dn] |= FLOOD_DN_ANSWERED;
    if (code == 200) {
        flood_hist_add(&f->lat_ok, lat);
        f->dn_flags[r->dn] |= FLOOD_DN_OK;
        f->last_ok_us = now_us;
    } else if (code == 503 && has_retry_after(buf, len)) {
        f->with_retry_after++;
    }
    return;
stray:
    f->stray++;
}
