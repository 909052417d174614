/*
 * Two SHA-256 streams at once with the x86 SHA extensions (SHA-NI).
 *
 * Why this exists: Civitai's AutoV2 (SHA-256 of the whole file) and AutoV3
 * (SHA-256 of the safetensors payload) are two SHA-256 passes over nearly the
 * same bytes that cannot share work (different start, different alignment).
 * One SHA-NI stream is bound by the latency of SHA256RNDS2, so a core has
 * room for a second, independent stream: interleaving the two costs ~1.1-1.2x
 * one stream instead of 2x (the technique of the Linux kernel's
 * sha256_ni_finup2x and ISA-L's multi-buffer SHA-256). Measured on AMD Zen 1:
 * both streams in 1.0 s/GiB, one OpenSSL stream 0.88 s/GiB.
 *
 * Only the compression function lives here; buffering, padding and lengths
 * stay in Python (models/hashing.py), which calls this with whole 64-byte
 * blocks and releases the GIL while it runs. On CPUs or compilers without
 * SHA-NI the module still imports and says so through available().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define SDHUB_HAVE_SHANI_CODE 1
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t K[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define SHANI __attribute__((target("sha,sse4.1,ssse3")))

/* The state as FIPS 180-4 words a..h -> the ABEF/CDGH layout SHA256RNDS2 wants. */
SHANI static inline void load_state(const uint32_t *s, __m128i *abef, __m128i *cdgh) {
    __m128i tmp = _mm_loadu_si128((const __m128i *)&s[0]);
    __m128i s1 = _mm_loadu_si128((const __m128i *)&s[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);
    s1 = _mm_shuffle_epi32(s1, 0x1B);
    *abef = _mm_alignr_epi8(tmp, s1, 8);
    *cdgh = _mm_blend_epi16(s1, tmp, 0xF0);
}

SHANI static inline void store_state(uint32_t *s, __m128i abef, __m128i cdgh) {
    __m128i tmp = _mm_shuffle_epi32(abef, 0x1B);
    cdgh = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&s[0], _mm_blend_epi16(tmp, cdgh, 0xF0));
    _mm_storeu_si128((__m128i *)&s[4], _mm_alignr_epi8(cdgh, tmp, 8));
}

/* Four rounds: message words W (already big-endian-swapped) plus constants g. */
#define ROUNDS4(S0, S1, W, g)                                                        \
    do {                                                                             \
        __m128i m_ = _mm_add_epi32((W), _mm_load_si128((const __m128i *)&K[4 * (g)])); \
        S1 = _mm_sha256rnds2_epu32(S1, S0, m_);                                      \
        m_ = _mm_shuffle_epi32(m_, 0x0E);                                            \
        S0 = _mm_sha256rnds2_epu32(S0, S1, m_);                                      \
    } while (0)

/* The next four schedule words from the previous sixteen (W0 oldest). */
#define SCHEDULE(W0, W1, W2, W3)                                                     \
    _mm_sha256msg2_epu32(                                                            \
        _mm_add_epi32(_mm_sha256msg1_epu32((W0), (W1)), _mm_alignr_epi8((W3), (W2), 4)), (W3))

#define BSWAP_MASK _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL)

SHANI static void compress1(uint32_t *state, const uint8_t *data, size_t nblocks) {
    const __m128i mask = BSWAP_MASK;
    __m128i abef, cdgh;
    load_state(state, &abef, &cdgh);
    while (nblocks--) {
        __m128i save_abef = abef, save_cdgh = cdgh, w[4];
        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), mask);
            ROUNDS4(abef, cdgh, w[i], i);
        }
#pragma GCC unroll 12
        for (int g = 4; g < 16; g++) {
            w[g & 3] = SCHEDULE(w[g & 3], w[(g + 1) & 3], w[(g + 2) & 3], w[(g + 3) & 3]);
            ROUNDS4(abef, cdgh, w[g & 3], g);
        }
        abef = _mm_add_epi32(abef, save_abef);
        cdgh = _mm_add_epi32(cdgh, save_cdgh);
        data += 64;
    }
    store_state(state, abef, cdgh);
}

/* compress1 on two independent streams, statement by statement interleaved. */
SHANI static void compress2(uint32_t *sa, const uint8_t *da, uint32_t *sb, const uint8_t *db,
                            size_t nblocks) {
    const __m128i mask = BSWAP_MASK;
    __m128i abef0, cdgh0, abef1, cdgh1;
    load_state(sa, &abef0, &cdgh0);
    load_state(sb, &abef1, &cdgh1);
    while (nblocks--) {
        __m128i s_abef0 = abef0, s_cdgh0 = cdgh0, s_abef1 = abef1, s_cdgh1 = cdgh1, w[4], v[4];
        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(da + 16 * i)), mask);
            v[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(db + 16 * i)), mask);
            ROUNDS4(abef0, cdgh0, w[i], i);
            ROUNDS4(abef1, cdgh1, v[i], i);
        }
#pragma GCC unroll 12
        for (int g = 4; g < 16; g++) {
            w[g & 3] = SCHEDULE(w[g & 3], w[(g + 1) & 3], w[(g + 2) & 3], w[(g + 3) & 3]);
            v[g & 3] = SCHEDULE(v[g & 3], v[(g + 1) & 3], v[(g + 2) & 3], v[(g + 3) & 3]);
            ROUNDS4(abef0, cdgh0, w[g & 3], g);
            ROUNDS4(abef1, cdgh1, v[g & 3], g);
        }
        abef0 = _mm_add_epi32(abef0, s_abef0);
        cdgh0 = _mm_add_epi32(cdgh0, s_cdgh0);
        abef1 = _mm_add_epi32(abef1, s_abef1);
        cdgh1 = _mm_add_epi32(cdgh1, s_cdgh1);
        da += 64;
        db += 64;
    }
    store_state(sa, abef0, cdgh0);
    store_state(sb, abef1, cdgh1);
}

static int cpu_has_shani(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & (1u << 9)) || !(c & (1u << 19))) /* SSSE3, SSE4.1 */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1; /* SHA */
}
#endif

static int have_shani = 0;

/* A writable 32-byte state buffer (eight native-order words). */
static int get_state(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len != 32) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "state must be a writable buffer of 32 bytes");
        return -1;
    }
    return 0;
}

/* Read-only data of whole 64-byte blocks. */
static int get_blocks(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len % 64) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "data must be whole 64-byte blocks");
        return -1;
    }
    return 0;
}

static PyObject *unavailable(void) {
    PyErr_SetString(PyExc_RuntimeError, "this CPU has no SHA extensions (see available())");
    return NULL;
}

PyDoc_STRVAR(compress_doc,
             "compress(state, data)\n\nRun SHA-256's compression over whole 64-byte blocks.");

static PyObject *py_compress(PyObject *self, PyObject *args) {
    PyObject *state_obj, *data_obj;
    if (!PyArg_ParseTuple(args, "OO:compress", &state_obj, &data_obj))
        return NULL;
    if (!have_shani)
        return unavailable();
    Py_buffer st, data;
    if (get_state(state_obj, &st) < 0)
        return NULL;
    if (get_blocks(data_obj, &data) < 0) {
        PyBuffer_Release(&st);
        return NULL;
    }
#ifdef SDHUB_HAVE_SHANI_CODE
    Py_BEGIN_ALLOW_THREADS
    compress1((uint32_t *)st.buf, (const uint8_t *)data.buf, (size_t)data.len / 64);
    Py_END_ALLOW_THREADS
#endif
    PyBuffer_Release(&data);
    PyBuffer_Release(&st);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(compress2_doc,
             "compress2(state_a, data_a, state_b, data_b)\n\n"
             "Two independent compress() calls, interleaved on one core.");

static PyObject *py_compress2(PyObject *self, PyObject *args) {
    PyObject *sa_obj, *da_obj, *sb_obj, *db_obj;
    if (!PyArg_ParseTuple(args, "OOOO:compress2", &sa_obj, &da_obj, &sb_obj, &db_obj))
        return NULL;
    if (!have_shani)
        return unavailable();
    Py_buffer sa, da, sb, db;
    if (get_state(sa_obj, &sa) < 0)
        return NULL;
    if (get_blocks(da_obj, &da) < 0)
        goto fail_sa;
    if (get_state(sb_obj, &sb) < 0)
        goto fail_da;
    if (get_blocks(db_obj, &db) < 0)
        goto fail_sb;
    if (sa.buf == sb.buf) {
        PyErr_SetString(PyExc_ValueError, "the two states must be different buffers");
        goto fail_db;
    }
#ifdef SDHUB_HAVE_SHANI_CODE
    {
        size_t na = (size_t)da.len / 64, nb = (size_t)db.len / 64;
        size_t both = na < nb ? na : nb;
        const uint8_t *pa = (const uint8_t *)da.buf, *pb = (const uint8_t *)db.buf;
        Py_BEGIN_ALLOW_THREADS
        compress2((uint32_t *)sa.buf, pa, (uint32_t *)sb.buf, pb, both);
        if (na > both)
            compress1((uint32_t *)sa.buf, pa + 64 * both, na - both);
        if (nb > both)
            compress1((uint32_t *)sb.buf, pb + 64 * both, nb - both);
        Py_END_ALLOW_THREADS
    }
#endif
    PyBuffer_Release(&db);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&da);
    PyBuffer_Release(&sa);
    Py_RETURN_NONE;
fail_db:
    PyBuffer_Release(&db);
fail_sb:
    PyBuffer_Release(&sb);
fail_da:
    PyBuffer_Release(&da);
fail_sa:
    PyBuffer_Release(&sa);
    return NULL;
}

static PyObject *py_available(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(have_shani);
}

static PyMethodDef methods[] = {
    {"compress", py_compress, METH_VARARGS, compress_doc},
    {"compress2", py_compress2, METH_VARARGS, compress2_doc},
    {"available", py_available, METH_NOARGS, "Whether this CPU can run compress/compress2."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sha256x2",
    "SHA-256 compression with SHA-NI, two streams interleaved (see models/hashing.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__sha256x2(void) {
#ifdef SDHUB_HAVE_SHANI_CODE
    have_shani = cpu_has_shani();
#endif
    return PyModule_Create(&module);
}
