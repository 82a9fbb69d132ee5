// A second translation unit using phial, so that any definition emitted outside impl/src.hpp
// shows up as a multiple definition when linking.
#include <phial/phial.hpp>

#include <string>

std::string render_hello() {
  phial::PromptBuilder prompt(phial::ChatFormat::phi4_mini);
  phial::ChatMessage message;
  message.role = "user";
  message.content = "hello";
  prompt.append(message);
  return prompt.text();
}
