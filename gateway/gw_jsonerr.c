#include "gw_jsonerr.h"

#include <string.h>
#include "gw_http.h"

#define MAX_FIELD 200

const char *gw_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 200   ? "Informational"
               : status < 300 ? "OK"
               : status < 400 ? "Redirect"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

static char *append(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *append_string(char *p, const char *s, size_t len)
{
    if (len > MAX_FIELD)
        len = MAX_FIELD;
    *p++ = '"';
    p += gw_json_escape(p, s, len);
    *p++ = '"';
    return p;
}

size_t gw_jsonerr_format(char *dst, int status, const char *code, const char *message, const char *route, const char *request_id,
                         size_t request_id_len)
{
    char *p = dst;
    /* three digits, whatever the status: one outside 0..999 is written as 000 */
    unsigned s = status >= 0 && status <= 999 ? (unsigned)status : 0;
    p = append(p, "{\"error\":{\"status\":");
    *p++ = (char)('0' + s / 100);
    *p++ = (char)('0' + s / 10 % 10);
    *p++ = (char)('0' + s % 10);
    p = append(p, ",\"code\":");
    p = append_string(p, code, strlen(code));
    p = append(p, ",\"message\":");
    p = append_string(p, message, strlen(message));
    p = append(p, ",\"route\":");
    p = route != NULL ? append_string(p, route, strlen(route)) : append(p, "null");
    p = append(p, ",\"request_id\":");
    p = append_string(p, request_id, request_id_len);
    p = append(p, "}}\n");
    return (size_t)(p - dst);
}
