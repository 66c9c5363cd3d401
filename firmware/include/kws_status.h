/* Status codes returned by every kws_* function. */
#ifndef KWS_STATUS_H
#define KWS_STATUS_H

typedef enum {
    KWS_OK = 0,
    KWS_ERR_ARG = -1,      /* a NULL pointer or an argument out of its documented range */
    KWS_ERR_SIZE = -2      /* an output buffer too small for what the call would produce */
} kws_status_t;

#endif /* KWS_STATUS_H */
