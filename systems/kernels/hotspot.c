/* HotSpot: transient thermal simulation of a chip on a grid (Rodinia's kind). Usage: hotspot SIZE ITERATIONS */
#include <stdio.h>
#include <stdlib.h>

static unsigned long long state = 11;
static double uniform(void) { state = state * 6364136223846793005ULL + 1442695040888963407ULL; return (state >> 11) * 0x1.0p-53; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 512, iterations = argc > 2 ? atoi(argv[2]) : 200;
    size_t cells = (size_t)n * n;
    float *temp = malloc(sizeof(float) * cells), *power = malloc(sizeof(float) * cells), *next = malloc(sizeof(float) * cells);
    for (size_t k = 0; k < cells; k++) { temp[k] = 320.0f + 10.0f * (float)uniform(); power[k] = (float)(uniform() * 1e-3); }
    const float cap = 0.5f, rx = 1.0f, ry = 1.0f, rz = 10.0f, ambient = 80.0f, step = 0.1f;
    for (int it = 0; it < iterations; it++) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                size_t k = (size_t)i * n + j;
                float t = temp[k];
                float north = i > 0 ? temp[k - n] : t, south = i < n - 1 ? temp[k + n] : t;
                float west = j > 0 ? temp[k - 1] : t, east = j < n - 1 ? temp[k + 1] : t;
                next[k] = t + step / cap * (power[k] + (south + north - 2.0f * t) / ry + (east + west - 2.0f * t) / rx + (ambient - t) / rz);
            }
        float *swap = temp; temp = next; next = swap;
    }
    double checksum = 0;
    for (size_t k = 0; k < cells; k++) checksum += temp[k];
    printf("checksum %.12e\n", checksum);
    return 0;
}
