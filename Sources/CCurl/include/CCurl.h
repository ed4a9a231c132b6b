// CCurl: libcurl for Swift. curl_easy_setopt, curl_easy_getinfo and
// curl_multi_setopt are variadic and cannot be called from Swift, and
// CURLMsg holds a union; these typed shims cover what CurlTransport uses.
#ifndef CCURL_H
#define CCURL_H
#include <curl/curl.h>

typedef size_t (*CCurl_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);

CURLcode CCurl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode CCurl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode CCurl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode CCurl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode CCurl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode CCurl_easy_setopt_data_callback(CURL *handle, CURLoption option, CCurl_data_callback cb);

CURLcode CCurl_easy_getinfo_long(CURL *handle, CURLINFO info, long *out);
CURLcode CCurl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **out);

CURLMcode CCurl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);

/// The result code of a finished transfer (CURLMsg.data.result).
CURLcode CCurl_msg_result(const CURLMsg *msg);

#endif
