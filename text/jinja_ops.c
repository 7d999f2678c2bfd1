/* Python operators for the Jinja2 interpreter: arithmetic with floor division and modulo,
 * concatenation and repetition, attribute and item access as jinja2's sandbox resolves them,
 * slicing by code point, `in`, iteration and len() (text/jinja_impl.h). */
#include "text/jinja_impl.h"

#include <math.h>
#include <string.h>

static int type_error(jj_render *r, int op, const jj_value *a, const jj_value *b) {
    if (a->t == JV_UNDEF) return jj_undef_fail(r, a);
    if (b->t == JV_UNDEF) return jj_undef_fail(r, b);
    char ops[3] = {(char)op, 0, 0};
    if (op == JOP_FLOORDIV) ops[0] = ops[1] = '/';
    if (op == JOP_POW) ops[0] = ops[1] = '*';
    return jj_fail(r, MMRT_ERR_BAD_FORMAT, "unsupported operand type(s) for %s: '%s' and '%s'", ops,
                   jj_type_name(a), jj_type_name(b));
}

static int64_t as_int(const jj_value *v) { return v->t == JV_INT ? v->u.i : v->u.b; }

static int repeat(jj_render *r, const jj_value *seq, int64_t n, jj_value *out) {
    if (n < 0 || jj_len(seq) == 0) n = 0; /* [] * 10**17 is [] at once, not 10**17 empty copies */
    if (seq->t == JV_STR) {
        size_t len = seq->u.s->len;
        if (len && (uint64_t)n > r->max_output / len)
            return jj_fail(r, MMRT_ERR_INVALID_ARG, "a string grows past max_output = %zu bytes", r->max_output);
        jj_buf b = {0};
        for (int64_t i = 0; i < n; i++)
            if (jj_buf_put(r, &b, seq->u.s->s, len)) return -1;
        return jj_buf_value(r, &b, out);
    }
    size_t len = seq->u.l->n;
    if (len && (uint64_t)n > (uint64_t)r->max_steps / len)
        return jj_fail(r, MMRT_ERR_INVALID_ARG, "a list grows past max_steps = %lld items", (long long)r->max_steps);
    jj_list *l = jj_list_new(r, len * (size_t)n, seq->t, out);
    if (!l) return -1;
    for (int64_t i = 0; i < n; i++)
        if (len) memcpy(l->v + (size_t)i * len, seq->u.l->v, len * sizeof(jj_value));
    return 0;
}

static int int_arith(jj_render *r, int op, int64_t x, int64_t y, jj_value *out) {
    int64_t z = 0;
    bool ovf = false;
    switch (op) {
    case '+': ovf = __builtin_add_overflow(x, y, &z); break;
    case '-': ovf = __builtin_sub_overflow(x, y, &z); break;
    case '*': ovf = __builtin_mul_overflow(x, y, &z); break;
    case JOP_FLOORDIV:
    case '%':
        if (y == 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) {
            ovf = op == JOP_FLOORDIV;
            z = 0;
            break;
        }
        {
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q--;
                m += y;
            }
            z = op == '%' ? m : q;
        }
        break;
    case JOP_POW:
        if (y < 0) {
            if (x == 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "0.0 cannot be raised to a negative power");
            *out = jj_float(pow((double)x, (double)y));
            return 0;
        }
        z = 1;
        for (int64_t base = x, e = y; e > 0 && !ovf; e >>= 1) {
            if (e & 1) ovf = __builtin_mul_overflow(z, base, &z);
            if (e > 1 && __builtin_mul_overflow(base, base, &base)) ovf = true;
        }
        break;
    }
    if (ovf) return jj_fail(r, MMRT_ERR_UNSUPPORTED, "integer overflow (results beyond 64 bits are not supported)");
    *out = jj_int(z);
    return 0;
}

static int float_arith(jj_render *r, int op, double x, double y, jj_value *out) {
    double z;
    switch (op) {
    case '+': z = x + y; break;
    case '-': z = x - y; break;
    case '*': z = x * y; break;
    case '/':
        if (y == 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "division by zero");
        z = x / y;
        break;
    case JOP_FLOORDIV:
    case '%': {
        if (y == 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "float division by zero");
        /* CPython's float_divmod: the modulo takes the divisor's sign (zero too), and the
         * quotient is computed from it so that 1 // 0.1 is 9.0 */
        double m = fmod(x, y), div = (x - m) / y;
        if (m != 0) {
            if ((y < 0) != (m < 0)) {
                m += y;
                div -= 1.0;
            }
        } else {
            m = copysign(0.0, y);
        }
        double q;
        if (div != 0) {
            q = floor(div);
            if (div - q > 0.5) q += 1.0;
        } else {
            q = copysign(0.0, x / y);
        }
        z = op == '%' ? m : q;
        break;
    }
    default:
        if (x == 0 && y < 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "0.0 cannot be raised to a negative power");
        z = pow(x, y);
        if (x < 0 && y != floor(y)) return jj_fail(r, MMRT_ERR_UNSUPPORTED, "complex results are not supported");
    }
    *out = jj_float(z);
    return 0;
}

int jj_binop(jj_render *r, int op, const jj_value *a, const jj_value *b, jj_value *out) {
    if (op == '~') {
        jj_buf buf = {0};
        if (jj_append_str(r, &buf, a) || jj_append_str(r, &buf, b)) return -1;
        return jj_buf_value(r, &buf, out);
    }
    if (jj_is_num(a) && jj_is_num(b)) {
        if (a->t != JV_FLOAT && b->t != JV_FLOAT && op != '/') return int_arith(r, op, as_int(a), as_int(b), out);
        return float_arith(r, op, jj_num(a), jj_num(b), out);
    }
    if (op == '+' && a->t == JV_STR && b->t == JV_STR) {
        if (a->safe != b->safe) { /* Markup + str escapes the str, either way round */
            jj_value ea, eb;
            if (jj_escape(r, a, &ea) || jj_escape(r, b, &eb)) return -1;
            ea.safe = eb.safe = 0;
            if (jj_binop(r, '+', &ea, &eb, out)) return -1;
            out->safe = 1;
            return 0;
        }
        jj_buf buf = {0};
        if (jj_buf_put(r, &buf, a->u.s->s, a->u.s->len) || jj_buf_put(r, &buf, b->u.s->s, b->u.s->len)) return -1;
        if (jj_buf_value(r, &buf, out)) return -1;
        out->safe = a->safe;
        return 0;
    }
    if (op == '+' && a->t == b->t && jj_is_seq(a) && !a->iter && !b->iter) {
        size_t n = a->u.l->n, m = b->u.l->n;
        jj_list *l = jj_list_new(r, n + m, a->t, out);
        if (!l) return -1;
        if (n) memcpy(l->v, a->u.l->v, n * sizeof(jj_value));
        if (m) memcpy(l->v + n, b->u.l->v, m * sizeof(jj_value));
        return 0;
    }
    if (op == '*' && (a->t == JV_STR || (jj_is_seq(a) && !a->iter)) && (b->t == JV_INT || b->t == JV_BOOL))
        return repeat(r, a, as_int(b), out);
    if (op == '*' && (b->t == JV_STR || (jj_is_seq(b) && !b->iter)) && (a->t == JV_INT || a->t == JV_BOOL))
        return repeat(r, b, as_int(a), out);
    if (op == '%' && a->t == JV_STR) return jj_printf(r, a->u.s, b, out);
    return type_error(r, op, a, b);
}

int64_t jj_len(const jj_value *v) {
    switch (v->t) {
    case JV_UNDEF: return 0;
    case JV_STR: return (int64_t)jj_utf8_count(v->u.s->s, v->u.s->len);
    case JV_LIST:
    case JV_TUPLE: return v->iter == JJ_ITER_GEN ? -1 : (int64_t)v->u.l->n;
    case JV_DICT: return (int64_t)v->u.d->n;
    default: return -1;
    }
}

static int no_attr(jj_render *r, const jj_value *obj, const char *name, jj_value *out) {
    const char *tn = obj->t == JV_DICT ? "dict object" : obj->t == JV_LIST ? "list object" :
                     obj->t == JV_STR ? "str object" : obj->t == JV_NONE ? "None" : jj_type_name(obj);
    jj_str *h = jj_str_fmt(&r->pool, "'%s' has no attribute '%.200s'", tn, name);
    if (!h) return jj_oom(r);
    *out = jj_undef(h);
    return 0;
}

static int method(jj_render *r, const jj_value *obj, const char *name, size_t len, jj_value *out) {
    jj_method *m = jj_alloc(&r->pool, sizeof *m);
    char *nm = jj_alloc(&r->pool, len + 1);
    if (!m || !nm) return jj_oom(r);
    memcpy(nm, name, len);
    m->self = *obj;
    m->name = nm;
    out->t = JV_METHOD;
    out->u.m = m;
    return 0;
}

static int loop_attr(jj_render *r, const jj_loop *lp, const char *name, jj_value *out) {
    size_t n = lp->items->n, i = lp->index0;
    if (!strcmp(name, "index")) *out = jj_int((int64_t)i + 1);
    else if (!strcmp(name, "index0")) *out = jj_int((int64_t)i);
    else if (!strcmp(name, "revindex")) *out = jj_int((int64_t)(n - i));
    else if (!strcmp(name, "revindex0")) *out = jj_int((int64_t)(n - i - 1));
    else if (!strcmp(name, "first")) *out = jj_bool(i == 0);
    else if (!strcmp(name, "last")) *out = jj_bool(i + 1 == n);
    else if (!strcmp(name, "length")) *out = jj_int((int64_t)n);
    else if (!strcmp(name, "depth")) *out = jj_int(1);
    else if (!strcmp(name, "depth0")) *out = jj_int(0);
    else if (!strcmp(name, "previtem") || !strcmp(name, "nextitem")) {
        bool prev = name[0] == 'p';
        if (prev ? i > 0 : i + 1 < n) *out = lp->items->v[prev ? i - 1 : i + 1];
        else {
            jj_str *h = jj_str_fmt(&r->pool, "there is no %s", prev ? "previous item" : "next item");
            if (!h) return jj_oom(r);
            *out = jj_undef(h);
        }
    } else {
        jj_value self = {.t = JV_LOOP};
        self.u.loop = (jj_loop *)lp;
        if (!strcmp(name, "cycle") || !strcmp(name, "changed")) return method(r, &self, name, strlen(name), out);
        return no_attr(r, &self, name, out);
    }
    return 0;
}

int jj_getattr(jj_render *r, const jj_value *obj, const char *name, size_t len, jj_value *out) {
    if (obj->t == JV_UNDEF) return jj_undef_fail(r, obj);
    if (obj->t == JV_LOOP) return loop_attr(r, obj->u.loop, name, out);
    if (obj->t == JV_HELPER && obj->u.helper->cycler) {
        const jj_helper *h = obj->u.helper;
        if (!strcmp(name, "current")) {
            *out = h->items->v[h->pos];
            return 0;
        }
        if (!strcmp(name, "next") || !strcmp(name, "reset")) return method(r, obj, name, strlen(name), out);
    }
    bool unsafe = false;
    if (jj_has_method(obj, name, len, &unsafe)) {
        if (unsafe)
            return jj_fail(r, MMRT_ERR_BAD_FORMAT, "access to attribute '%s' of '%s' object is unsafe", name,
                           jj_type_name(obj));
        return method(r, obj, name, len, out);
    }
    if (obj->t == JV_DICT || obj->t == JV_NS) {
        const jj_value *v = jj_dict_get_s(obj->u.d, name, len);
        if (v) {
            *out = *v;
            return 0;
        }
    }
    return no_attr(r, obj, name, out);
}

static bool index_of(const jj_value *key, int64_t n, int64_t *idx) {
    if (key->t != JV_INT && key->t != JV_BOOL) return false;
    int64_t i = key->t == JV_INT ? key->u.i : key->u.b;
    if (i < 0) i += n;
    if (i < 0 || i >= n) return false;
    *idx = i;
    return true;
}

int jj_getitem(jj_render *r, const jj_value *obj, const jj_value *key, jj_value *out) {
    if (obj->t == JV_UNDEF) return jj_undef_fail(r, obj);
    int64_t i;
    if (obj->t == JV_DICT || obj->t == JV_NS) {
        const jj_value *v = obj->t == JV_DICT ? jj_dict_get(obj->u.d, key) : NULL;
        if (v) {
            *out = *v;
            return 0;
        }
    } else if (jj_is_seq(obj) && !obj->iter) {
        if (index_of(key, (int64_t)obj->u.l->n, &i)) {
            *out = obj->u.l->v[i];
            return 0;
        }
    } else if (obj->t == JV_STR) {
        const jj_str *s = obj->u.s;
        if (jj_step(r, (int64_t)(s->len >> 8))) return -1;
        if (index_of(key, (int64_t)jj_utf8_count(s->s, s->len), &i)) {
            size_t a = jj_utf8_offset(s->s, s->len, (size_t)i), b = jj_utf8_offset(s->s, s->len, (size_t)i + 1);
            return jj_make_str(r, s->s + a, b - a, out);
        }
    }
    if (key->t == JV_STR) return jj_getattr(r, obj, key->u.s->s, key->u.s->len, out);
    jj_buf b = {0};
    if (jj_append_repr(r, &b, key, 0)) return -1;
    jj_str *h = jj_str_fmt(&r->pool, "'%s object' has no element %.200s", jj_type_name(obj), b.s ? b.s : "");
    if (!h) return jj_oom(r);
    *out = jj_undef(h);
    return 0;
}

static int slice_arg(jj_render *r, const jj_value *v, bool *given, int64_t *out) {
    *given = v && v->t != JV_NONE && v->t != JV_UNDEF;
    if (!*given) return 0;
    if (v->t != JV_INT && v->t != JV_BOOL)
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "slice indices must be integers or None");
    *out = as_int(v);
    return 0;
}

int jj_slice(jj_render *r, const jj_value *obj, const jj_value *lo, const jj_value *hi, const jj_value *step,
             jj_value *out) {
    if (obj->t == JV_UNDEF) return jj_undef_fail(r, obj);
    if (obj->t == JV_LIST && obj->iter) { /* jinja2 falls back to getattr, which finds nothing */
        *out = jj_undef(NULL);
        return 0;
    }
    if (obj->t != JV_STR && !jj_is_seq(obj))
        return jj_fail(r, MMRT_ERR_BAD_FORMAT, "'%s' object is not subscriptable", jj_type_name(obj));
    int64_t n = jj_len(obj), a = 0, b = 0, s = 1;
    if (obj->t == JV_STR && jj_step(r, (int64_t)(obj->u.s->len >> 8))) return -1;
    bool ga, gb, gs;
    if (slice_arg(r, lo, &ga, &a) || slice_arg(r, hi, &gb, &b) || slice_arg(r, step, &gs, &s)) return -1;
    if (s == 0) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "slice step cannot be zero");
    if (s == INT64_MIN) s = -INT64_MAX; /* same slice, and -s stays representable */
    /* CPython's PySlice_AdjustIndices */
    if (!ga) a = s < 0 ? n - 1 : 0;
    else if (a < 0) a = a + n < 0 ? (s < 0 ? -1 : 0) : a + n;
    else if (a >= n) a = s < 0 ? n - 1 : n;
    if (!gb) b = s < 0 ? -1 : n;
    else if (b < 0) b = b + n < 0 ? (s < 0 ? -1 : 0) : b + n;
    else if (b >= n) b = s < 0 ? n - 1 : n;
    int64_t count = 0;
    if (s > 0 && a < b) count = (b - a - 1) / s + 1;
    if (s < 0 && b < a) count = (a - b - 1) / (-s) + 1;
    if (obj->t == JV_STR) {
        const jj_str *str = obj->u.s;
        if (s == 1) {
            size_t x = jj_utf8_offset(str->s, str->len, (size_t)a);
            size_t y = count ? jj_utf8_offset(str->s, str->len, (size_t)b) : x;
            return jj_make_str(r, str->s + x, y - x, out);
        }
        jj_buf buf = {0};
        for (int64_t k = 0; k < count; k++) {
            int64_t i = a + k * s; /* in [0, n) for k < count: no overflow */
            size_t x = jj_utf8_offset(str->s, str->len, (size_t)i), y = jj_utf8_offset(str->s, str->len, (size_t)i + 1);
            if (jj_step(r, 1) || jj_buf_put(r, &buf, str->s + x, y - x)) return -1;
        }
        return jj_buf_value(r, &buf, out);
    }
    jj_list *l = jj_list_new(r, (size_t)count, obj->t, out);
    if (!l) return -1;
    for (int64_t k = 0; k < count; k++) l->v[k] = obj->u.l->v[a + k * s];
    return 0;
}

int jj_contains(jj_render *r, const jj_value *b, const jj_value *a, bool *out) {
    *out = false;
    if (b->t == JV_STR) {
        if (a->t != JV_STR)
            return jj_fail(r, MMRT_ERR_BAD_FORMAT, "'in <string>' requires string as left operand, not %s", jj_type_name(a));
        if (jj_step(r, (int64_t)(b->u.s->len >> 8))) return -1;
        *out = a->u.s->len == 0 || memmem(b->u.s->s, b->u.s->len, a->u.s->s, a->u.s->len) != NULL;
        return 0;
    }
    if (jj_is_seq(b)) {
        if (b->u.l->error) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s", b->u.l->error->s);
        for (size_t i = 0; i < b->u.l->n && !*out; i++)
            if (jj_equal_r(r, &b->u.l->v[i], a, out)) return -1;
        return 0;
    }
    if (b->t == JV_DICT) {
        *out = jj_dict_get(b->u.d, a) != NULL;
        return 0;
    }
    if (b->t == JV_UNDEF) return 0;
    return jj_fail(r, MMRT_ERR_BAD_FORMAT, "argument of type '%s' is not iterable", jj_type_name(b));
}

int jj_gen_input(jj_render *r, const jj_value *in, jj_list **items, jj_value *out) {
    *items = NULL;
    if (jj_is_seq(in) && in->u.l->error) { /* a failing generator over a failing one: still lazy */
        jj_list *l = jj_list_new(r, 0, JV_LIST, out);
        if (!l) return -1;
        l->error = in->u.l->error;
        out->iter = JJ_ITER_GEN;
        return 0;
    }
    if (jj_is_seq(in) || in->t == JV_STR || in->t == JV_DICT || in->t == JV_UNDEF) return jj_iterate(r, in, items);
    jj_list *l = jj_list_new(r, 0, JV_LIST, out);
    if (!l || !(l->error = jj_str_fmt(&r->pool, "'%s' object is not iterable", jj_type_name(in)))) return l ? jj_oom(r) : -1;
    out->iter = JJ_ITER_GEN;
    return 0;
}

int jj_iterate(jj_render *r, const jj_value *v, jj_list **out) {
    jj_value tmp;
    if (jj_is_seq(v) && v->u.l->error) return jj_fail(r, MMRT_ERR_BAD_FORMAT, "%s", v->u.l->error->s);
    if (jj_is_seq(v)) {
        *out = v->u.l;
        return 0;
    }
    if (v->t == JV_UNDEF) {
        jj_list *l = jj_list_new(r, 0, JV_LIST, &tmp);
        *out = l;
        return l ? 0 : -1;
    }
    if (v->t == JV_DICT) {
        jj_list *l = jj_list_new(r, v->u.d->n, JV_LIST, &tmp);
        if (!l) return -1;
        memcpy(l->v, v->u.d->k, v->u.d->n * sizeof(jj_value));
        *out = l;
        return 0;
    }
    if (v->t == JV_STR) {
        const jj_str *s = v->u.s;
        jj_list *l = jj_list_new(r, jj_utf8_count(s->s, s->len), JV_LIST, &tmp);
        if (!l) return -1;
        for (size_t i = 0, pos = 0; i < l->n; i++) {
            size_t end = jj_utf8_offset(s->s + pos, s->len - pos, 1) + pos;
            if (jj_make_str(r, s->s + pos, end - pos, &l->v[i])) return -1;
            pos = end;
        }
        *out = l;
        return 0;
    }
    return jj_fail(r, MMRT_ERR_BAD_FORMAT, "'%s' object is not iterable", jj_type_name(v));
}
