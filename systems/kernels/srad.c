/* SRAD: speckle-reducing anisotropic diffusion of an image (Rodinia's kind). Usage: srad SIZE ITERATIONS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long long state = 7;
static double uniform(void) { state = state * 6364136223846793005ULL + 1442695040888963407ULL; return (state >> 11) * 0x1.0p-53; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 512, iterations = argc > 2 ? atoi(argv[2]) : 20;
    size_t cells = (size_t)n * n;
    double *img = malloc(sizeof(double) * cells * 6), *dn = img + cells, *ds = dn + cells, *dw = ds + cells, *de = dw + cells, *c = de + cells;
    for (size_t k = 0; k < cells; k++) img[k] = exp((uniform() + 0.5 * sin(k * 0.001)) / 2.0);
    const double lambda = 0.25;
    for (int it = 0; it < iterations; it++) {
        double sum = 0, sum2 = 0;
        for (size_t k = 0; k < cells; k++) { sum += img[k]; sum2 += img[k] * img[k]; }
        double mean = sum / cells, q0 = (sum2 / cells - mean * mean) / (mean * mean);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                size_t k = (size_t)i * n + j;
                double v = img[k];
                dn[k] = img[(size_t)(i > 0 ? i - 1 : 0) * n + j] - v;
                ds[k] = img[(size_t)(i < n - 1 ? i + 1 : n - 1) * n + j] - v;
                dw[k] = img[(size_t)i * n + (j > 0 ? j - 1 : 0)] - v;
                de[k] = img[(size_t)i * n + (j < n - 1 ? j + 1 : n - 1)] - v;
                double g2 = (dn[k] * dn[k] + ds[k] * ds[k] + dw[k] * dw[k] + de[k] * de[k]) / (v * v);
                double l = (dn[k] + ds[k] + dw[k] + de[k]) / v;
                double num = 0.5 * g2 - 0.0625 * l * l, den = 1 + 0.25 * l;
                double qsqr = num / (den * den);
                double cc = 1.0 / (1.0 + (qsqr - q0) / (q0 * (1 + q0)));
                c[k] = cc < 0 ? 0 : cc > 1 ? 1 : cc;
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                size_t k = (size_t)i * n + j;
                double cs = c[(size_t)(i < n - 1 ? i + 1 : n - 1) * n + j], ce = c[(size_t)i * n + (j < n - 1 ? j + 1 : n - 1)];
                img[k] += 0.25 * lambda * (c[k] * dn[k] + cs * ds[k] + c[k] * dw[k] + ce * de[k]);
            }
    }
    double checksum = 0;
    for (size_t k = 0; k < cells; k++) checksum += img[k];
    printf("checksum %.12e\n", checksum);
    free(img);
    return 0;
}
