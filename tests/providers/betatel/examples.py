"""Betatel's document's examples, copied verbatim (only line breaks of the page kept), with the helpers
that substitute the host and credentials and nothing else."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

BETATEL_HOST = "https://api.betatel.com"

REQUEST_BODY = """{"from":"Sender", "to":"12345678548", "text":"Your code is 555345"}"""

CURL = r"""curl --location 'https://api.betatel.com/api/v1/connect-hub/sms' \
--header 'Content-Type: application/json' \
--header 'x-api-key: YOUR_API_KEY' \
--header 'x-user-id: YOUR_USER_ID' \
--data '{
"from":"Sender",
"to":"12345678548",
"text": "Your code is 555345"
}'"""

PYTHON = """import http.client
import json
conn = http.client.HTTPSConnection("api.betatel.com")
payload = json.dumps({
"from": "Sender",
"to": "12345678548",
"text": "Your code is 555345"
})
headers = {
'Content-Type': 'application/json',
'x-api-key': 'YOUR_API_KEY',
'x-user-id': 'YOUR_USER_ID'
}
conn.request("POST", "/api/v1/connect-hub/sms", payload, headers)
res = conn.getresponse()
data = res.read()
print(data.decode("utf-8"))"""

NODE = """const axios = require('axios');
let data = JSON.stringify({
"from": "Sender",
"to": "12345678548",
"text": "Your code is 555345"
});
let config = {
method: 'post',
maxBodyLength: Infinity,
url: 'https://api.betatel.com/api/v1/connect-hub/sms',
headers: {
'Content-Type': 'application/json',
'x-api-key': 'YOUR_API_KEY',
'x-user-id': 'YOUR_USER_ID'
},
data : data
};
axios.request(config)
.then((response) => {
console.log(JSON.stringify(response.data));
})
.catch((error) => {
console.log(error);
});"""

PHP = """<?php
$curl = curl_init();
curl_setopt_array($curl, array(
CURLOPT_URL => 'https://api.betatel.com/api/v1/connect-hub/sms',
CURLOPT_RETURNTRANSFER => true,
CURLOPT_ENCODING => '',
CURLOPT_MAXREDIRS => 10,
CURLOPT_TIMEOUT => 0,
CURLOPT_FOLLOWLOCATION => true,
CURLOPT_HTTP_VERSION => CURL_HTTP_VERSION_1_1,
CURLOPT_CUSTOMREQUEST => 'POST',
CURLOPT_POSTFIELDS =>'{"from":"Sender", "to":"12345678548", "text":"Your code is 555345"}',
CURLOPT_HTTPHEADER => array(
'Content-Type: application/json',
'x-api-key: YOUR_API_KEY',
'x-user-id: YOUR_USER_ID'
),
));
$response = curl_exec($curl);
curl_close($curl);
echo $response;"""

JAVA = r"""Unirest.setTimeouts(0, 0);
HttpResponse<String> response = Unirest.post("https://api.betatel.com/api/v1/connect-hub/sms")
.header("Content-Type", "application/json")
.header("x-api-key", "YOUR_API_KEY")
.header("x-user-id", "YOUR_USER_ID")
.body("{\"from\":\"Sender\", \"to\":\"12345678548\", \"text\":\"Your code is 555345\"}")
.asString();"""

CSHARP = r"""var client = new HttpClient();
var request = new HttpRequestMessage(HttpMethod.Post, "https://api.betatel.com/api/v1/connect-hub/sms");
request.Headers.Add("x-api-key", "YOUR_API_KEY");
request.Headers.Add("x-user-id", "YOUR_USER_ID");
var content = new StringContent("{\"from\":\"Sender\", \"to\":\"12345678548\", \"text\":\"Your code is 555345\"}", null, "application/json");
request.Content = content;
var response = await client.SendAsync(request);
response.EnsureSuccessStatusCode();
Console.WriteLine(await response.Content.ReadAsStringAsync());"""  # noqa: E501 (verbatim)

RESPONSE = """{
"messageId": "0a62face-6d15-11f0-962f-d89d6729654c",
"from": "Sender",
"to": "38161444555"
}"""


def substitute(text: str, base_url: str, api_key: str, user_id: str) -> str:
    """The example with only the host and the credentials replaced."""
    return (
        text.replace(BETATEL_HOST, base_url).replace("YOUR_API_KEY", api_key).replace("YOUR_USER_ID", user_id)
    )


@dataclass
class CurlRequest:
    method: str
    url: str
    headers: dict[str, str]
    data: str | None


def parse_curl(command: str) -> CurlRequest:
    """The request a curl command line makes (the options the document uses)."""
    words = shlex.split(command.replace("\\\n", " "))
    assert words[0] == "curl"
    url, headers, data, method = "", {}, None, None
    i = 1
    while i < len(words):
        word = words[i]
        if word in ("--location", "-L"):
            i += 1
            continue
        if word in ("--header", "-H"):
            name, _, value = words[i + 1].partition(":")
            headers[name.strip()] = value.strip()
            i += 2
        elif word in ("--data", "-d", "--data-raw"):
            data = words[i + 1]
            i += 2
        elif word in ("--request", "-X"):
            method = words[i + 1]
            i += 2
        else:
            url = word
            i += 1
    return CurlRequest(method or ("POST" if data is not None else "GET"), url, headers, data)
