/* Stand-in for config.h when the fuzz targets are built outside autotools. */
#define _GNU_SOURCE 1
