/* A native handler in C, for the `go`/`rust` runtimes (any Linux x86-64 executable will do):
 *   cc -O2 -o hello examples/c/hello.c
 *   nova register hello-c --runtime go --code ./hello
 * It reads the event file named by argv[1] and prints a JSON result. The JSON handling is
 * deliberately tiny: it finds the string value of "name" and escapes what it echoes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *buf = malloc(len + 1);
    if (buf && fread(buf, 1, len, f) == (size_t)len) buf[len] = '\0';
    fclose(f);
    return buf;
}

/* Copies the string value of "name" into out (at most cap-1 bytes), without its escapes. */
static int find_name(const char *json, char *out, size_t cap) {
    const char *p = strstr(json, "\"name\"");
    if (!p) return 0;
    p = strchr(p + 6, ':');
    if (!p) return 0;
    while (*++p == ' ' || *p == '\t' || *p == '\n') {}
    if (*p != '"') return 0;
    size_t n = 0;
    for (p++; *p && *p != '"' && n + 1 < cap; p++) {
        if (*p == '\\' && p[1]) p++;
        out[n++] = *p;
    }
    out[n] = '\0';
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s input.json\n", argv[0]);
        return 2;
    }
    char *json = read_file(argv[1]);
    if (!json) {
        perror(argv[1]);
        return 1;
    }
    char name[256];
    if (!find_name(json, name, sizeof name)) strcpy(name, "Anonymous");
    printf("{\"message\":\"Hello, ");
    for (const char *c = name; *c; c++) {
        if (*c == '"' || *c == '\\') putchar('\\');
        if ((unsigned char)*c >= 0x20) putchar(*c);
    }
    printf("!\",\"runtime\":\"c\"}\n");
    free(json);
    return 0;
}
