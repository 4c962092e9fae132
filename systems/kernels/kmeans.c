/* k-means clustering (Lloyd's algorithm) of random points. Usage: kmeans POINTS DIMENSIONS CLUSTERS ITERATIONS */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long long state = 3;
static double uniform(void) { state = state * 6364136223846793005ULL + 1442695040888963407ULL; return (state >> 11) * 0x1.0p-53; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 50000, d = argc > 2 ? atoi(argv[2]) : 8;
    int k = argc > 3 ? atoi(argv[3]) : 8, iterations = argc > 4 ? atoi(argv[4]) : 40;
    float *points = malloc(sizeof(float) * n * d), *centres = malloc(sizeof(float) * k * d), *sums = malloc(sizeof(float) * k * d);
    int *label = malloc(sizeof(int) * n), *count = malloc(sizeof(int) * k);
    for (int i = 0; i < n; i++)
        for (int a = 0; a < d; a++) points[i * d + a] = (float)(uniform() + (i % k) * 0.3);  /* k loose blobs */
    for (int c = 0; c < k; c++)
        for (int a = 0; a < d; a++) centres[c * d + a] = points[c * d + a];
    for (int it = 0; it < iterations; it++) {
        for (int i = 0; i < n; i++) {
            float best = FLT_MAX;
            int arg = 0;
            for (int c = 0; c < k; c++) {
                float dist = 0;
                for (int a = 0; a < d; a++) { float diff = points[i * d + a] - centres[c * d + a]; dist += diff * diff; }
                if (dist < best) { best = dist; arg = c; }
            }
            label[i] = arg;
        }
        for (int c = 0; c < k * d; c++) sums[c] = 0;
        for (int c = 0; c < k; c++) count[c] = 0;
        for (int i = 0; i < n; i++) {
            count[label[i]]++;
            for (int a = 0; a < d; a++) sums[label[i] * d + a] += points[i * d + a];
        }
        for (int c = 0; c < k; c++)
            for (int a = 0; a < d; a++) if (count[c]) centres[c * d + a] = sums[c * d + a] / count[c];
    }
    double checksum = 0;
    for (int c = 0; c < k * d; c++) checksum += centres[c];
    printf("checksum %.12e\n", checksum);
    return 0;
}
